package store_test

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"time"

	"github.com/certkeeper/certkeeper/keys"
	"github.com/certkeeper/certkeeper/store"
)

func Example() {
	ctx := context.Background()
	certs := &store.Certs{Store: store.NewMemory()} // LayoutStandard
	const ca = "https://127.0.0.1:14000/dir"

	keyPEM, chainPEM := selfSigned("*.example.com", "example.com")
	err := certs.SaveCertificate(ctx, store.CertRecord{
		Name:        "*.example.com",
		Identifiers: []string{"*.example.com", "example.com"},
		CA:          ca,
		KeyPEM:      keyPEM,
		ChainPEM:    chainPEM,
	})
	if err != nil {
		panic(err)
	}

	// Memory cannot link: the pointer "current" names the version that
	// readers get. (In a Dir, the link "live" does, and cert.pem, key.pem
	// and combined.pem beside it are links through it.)
	ks, _ := certs.Store.List(ctx, "")
	for _, k := range ks {
		fmt.Println(k)
	}
	res, err := certs.LoadCertificate(ctx, ca, "*.example.com")
	if err != nil {
		panic(err)
	}
	fmt.Println(res.Name, res.Identifiers)
	// Output:
	// certificates/127.0.0.1-14000_dir/_wildcard_.example.com/current
	// certificates/127.0.0.1-14000_dir/_wildcard_.example.com/versions/1/cert.pem
	// certificates/127.0.0.1-14000_dir/_wildcard_.example.com/versions/1/combined.pem
	// certificates/127.0.0.1-14000_dir/_wildcard_.example.com/versions/1/key.pem
	// certificates/127.0.0.1-14000_dir/_wildcard_.example.com/versions/1/meta.json
	// certificates/_index/f
	// *.example.com [*.example.com example.com]
}

func ExampleMemory_Lock() {
	ctx := context.Background()
	s := store.NewMemory() // Dir locks the same way, across processes
	unlock, err := s.Lock(ctx, "issue/www.example.com")
	if err != nil {
		panic(err)
	}
	defer unlock()

	waitCtx, cancel := context.WithTimeout(ctx, 10*time.Millisecond)
	defer cancel()
	_, err = s.Lock(waitCtx, "issue/www.example.com")
	fmt.Println(err)
	// Output: context deadline exceeded
}

// selfSigned stands in for a certificate from a CA.
func selfSigned(names ...string) (keyPEM, chainPEM []byte) {
	key, err := keys.Generate(keys.EC256)
	if err != nil {
		panic(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: names[0]},
		DNSNames:     names,
		NotBefore:    time.Now(),
		NotAfter:     time.Now().Add(24 * time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		panic(err)
	}
	keyPEM, err = keys.MarshalPEM(key)
	if err != nil {
		panic(err)
	}
	return keyPEM, keys.EncodeCertificates(der)
}
