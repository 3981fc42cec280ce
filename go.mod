module github.com/certkeeper/certkeeper

go 1.26.0

require (
	github.com/go-jose/go-jose/v4 v4.1.9
	github.com/miekg/dns v1.1.73
	golang.org/x/net v0.62.0
	golang.org/x/sys v0.50.0
	golang.org/x/time v0.16.0
)

require golang.org/x/text v0.44.0 // indirect
