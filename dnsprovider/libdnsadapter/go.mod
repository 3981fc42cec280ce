module github.com/certkeeper/certkeeper/dnsprovider/libdnsadapter

go 1.26.0

require github.com/certkeeper/certkeeper v0.1.0

require (
	github.com/go-jose/go-jose/v4 v4.1.9 // indirect
	github.com/libdns/libdns v1.1.1
	github.com/miekg/dns v1.1.73 // indirect
	golang.org/x/net v0.62.0 // indirect
	golang.org/x/sys v0.50.0 // indirect
)
