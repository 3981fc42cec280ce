package engine_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/certkeeper/certkeeper/engine"
	"github.com/certkeeper/certkeeper/store"
)

// A plain-HTTP CA is refused unless the engine is told it is a test.
func TestPlainHTTPCARefused(t *testing.T) {
	eng, err := engine.New(engine.Config{Store: store.NewMemory()})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	_, err = eng.Client("http://user:pw@ca.example/dir?token=s3cret", "")
	if !errors.Is(err, engine.ErrPlainHTTPCA) {
		t.Fatalf("Client(http://) = %v, want ErrPlainHTTPCA", err)
	}
	if strings.Contains(err.Error(), "s3cret") || strings.Contains(err.Error(), "pw") {
		t.Errorf("the error shows the URL's secrets: %v", err)
	}
	if _, err := eng.Client("https://ca.example/dir", ""); err != nil {
		t.Errorf("Client(https://): %v", err)
	}
	test, err := engine.New(engine.Config{Store: store.NewMemory(), AllowHTTPCA: true})
	if err != nil {
		t.Fatal(err)
	}
	defer test.Close()
	if _, err := test.Client("http://127.0.0.1:14000/dir", ""); err != nil {
		t.Errorf("Client(http://) with AllowHTTPCA: %v", err)
	}
}
