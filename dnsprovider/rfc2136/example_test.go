package rfc2136_test

import (
	"context"
	"fmt"
	"os"

	"github.com/certkeeper/certkeeper/dnsprovider/rfc2136"
)

func ExampleProvider() {
	// The key file as tsig-keygen wrote it; the server's named.conf has
	// the same key and, for the zone, e.g.
	//	update-policy { grant acme-key zonesub TXT; };
	data, err := os.ReadFile("/etc/certkeeper/acme-key.conf")
	if err != nil {
		fmt.Println(err)
		return
	}
	key, err := rfc2136.ParseKeyFile(data)
	if err != nil {
		fmt.Println(err)
		return
	}
	p := &rfc2136.Provider{Server: "ns1.example.com:53", Key: key}
	ctx := context.Background()
	// The zone is found by asking the server for the SOA when "" is given.
	if err := p.AddTXT(ctx, "", "_acme-challenge.www.example.com.", "value"); err != nil {
		fmt.Println(err)
		return
	}
	defer p.RemoveTXT(ctx, "", "_acme-challenge.www.example.com.", "value")
}

func ExampleParseKeyFile() {
	k, err := rfc2136.ParseKeyFile([]byte(`key "acme-key" {
	algorithm hmac-sha512;
	secret "c2VjcmV0LXNlY3JldC1zZWNyZXQ=";
};`))
	fmt.Println(k.Name, k.Algorithm, err)
	// Output: acme-key hmac-sha512 <nil>
}
