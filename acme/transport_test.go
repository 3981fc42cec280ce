package acme

import "testing"

func TestEmptyTimestamps(t *testing.T) {
	o, err := parseOrder([]byte(`{"status":"pending","expires":"","notBefore":null}`), "u")
	if err != nil || !o.Expires.IsZero() {
		t.Fatalf("%v %+v", err, o)
	}
}
