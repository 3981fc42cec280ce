package keys

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"errors"
	"testing"
)

func TestGenerateRoundTrip(t *testing.T) {
	for _, kt := range Types() {
		key, err := Generate(kt)
		if err != nil {
			t.Fatalf("%s: %v", kt, err)
		}
		if got, err := TypeOf(key.Public()); err != nil || got != kt {
			t.Errorf("TypeOf(Generate(%s)) = %s, %v", kt, got, err)
		}
		pemData, err := MarshalPEM(key)
		if err != nil {
			t.Fatal(err)
		}
		back, err := ParsePEM(pemData)
		if err != nil {
			t.Fatalf("%s: %v", kt, err)
		}
		if !back.Public().(interface{ Equal(crypto.PublicKey) bool }).Equal(key.Public()) {
			t.Errorf("%s: parsed key differs", kt)
		}
	}
}

func TestParseType(t *testing.T) {
	for in, want := range map[string]Type{"": EC256, "P-256": EC256, "ec384": EC384, "RSA": RSA2048, "rsa4096": RSA4096} {
		if got, err := ParseType(in); err != nil || got != want {
			t.Errorf("ParseType(%q) = %s, %v; want %s", in, got, err, want)
		}
	}
	_, err := ParseType("dsa")
	var ute *UnknownTypeError
	if !errors.As(err, &ute) || ute.Name != "dsa" || ute.Message() != "unknown key type (known: ec256, ec384, rsa2048, rsa3072, rsa4096)" {
		t.Errorf("ParseType(dsa): %v, want an *UnknownTypeError naming dsa and the types known", err)
	}
	if _, err := Generate("rsa1024"); !errors.As(err, &ute) || ute.Name != "rsa1024" {
		t.Errorf("Generate(rsa1024): %v, want an *UnknownTypeError naming rsa1024", err)
	}
}

func TestParsePEMSkipsCertificatesAndFindsPKCS8(t *testing.T) {
	key, _ := Generate(EC256)
	keyPEM, _ := MarshalPEM(key)
	combined := append(EncodeCertificates([]byte("not parsed")), keyPEM...)
	got, err := ParsePEM(combined)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := got.(*ecdsa.PrivateKey); !ok {
		t.Errorf("got %T", got)
	}
	if _, err := ParsePEM([]byte("nothing here")); !errors.Is(err, ErrNoKey) {
		t.Errorf("no key: %v, want ErrNoKey", err)
	}
	if _, err := ParsePEM([]byte("-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----\n")); err == nil {
		t.Error("garbage key: want an error")
	}
	r, _ := Generate(RSA2048)
	if _, ok := r.(*rsa.PrivateKey); !ok {
		t.Fatalf("RSA2048 gave %T", r)
	}
}

func TestParseCertificatesErrors(t *testing.T) {
	if _, err := ParseCertificates(nil); err == nil {
		t.Error("empty: want an error")
	}
	if _, err := ParseCertificates(EncodeCertificates([]byte{1, 2, 3})); err == nil {
		t.Error("bad DER: want an error")
	}
}

// FuzzParsePEM feeds arbitrary bytes to the parsers of user-supplied files.
func FuzzParsePEM(f *testing.F) {
	key, _ := Generate(EC256)
	keyPEM, _ := MarshalPEM(key)
	f.Add(keyPEM)
	f.Add([]byte("-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		_, _ = ParsePEM(data)
		_, _ = ParseCertificates(data)
	})
}
