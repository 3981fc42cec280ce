package store

import (
	"errors"
	"testing"

	"github.com/certkeeper/certkeeper/keys"
)

// A record to save that carries its key and chain parsed is checked by
// its encodings, without parsing the PEM again, when they are the PEM's;
// otherwise the PEM is parsed, and what the PEM says is what counts.
func TestCheckRecordUsesWhatTheCallerParsed(t *testing.T) {
	parsed := func(keyPEM, chainPEM []byte) CertRecord {
		key, err := keys.ParsePEM(keyPEM)
		if err != nil {
			t.Fatal(err)
		}
		certs, err := keys.ParseCertificates(chainPEM)
		if err != nil {
			t.Fatal(err)
		}
		return CertRecord{KeyPEM: keyPEM, ChainPEM: chainPEM, Key: key, Certificates: certs}
	}
	a := parsed(testCert(t, "a.example.test"))
	b := parsed(testCert(t, "b.example.test"))

	key, certs, err := checkRecord(a)
	if err != nil || key != a.Key || len(certs) != len(a.Certificates) || certs[0] != a.Certificates[0] {
		t.Fatalf("matching record: key %p certs %v err %v; want the record's own", key, certs, err)
	}

	// The chain parsed is another's: the PEM is parsed, and it is a's.
	mixed := a
	mixed.Certificates = b.Certificates
	_, certs, err = checkRecord(mixed)
	if err != nil || certs[0] == b.Certificates[0] || certs[0].Subject.CommonName != a.Certificates[0].Subject.CommonName {
		t.Fatalf("record whose parsed chain is another's: %v, %v; want a's chain parsed from the PEM", certs, err)
	}

	// The key parsed is another's: the PEM is parsed, and its key is a's.
	mixed = a
	mixed.Key = b.Key
	key, _, err = checkRecord(mixed)
	if err != nil || key == b.Key {
		t.Fatalf("record whose parsed key is another's: %v; want a's key parsed from the PEM", err)
	}

	// Key and chain that do not match, parsed or not: refused.
	wrong := a
	wrong.KeyPEM, wrong.Key = b.KeyPEM, b.Key
	if _, _, err := checkRecord(wrong); !errors.Is(err, ErrKeyMismatch) {
		t.Fatalf("b's key with a's chain, given parsed: %v; want ErrKeyMismatch", err)
	}
	wrong.Key, wrong.Certificates = nil, nil
	if _, _, err := checkRecord(wrong); !errors.Is(err, ErrKeyMismatch) {
		t.Fatalf("b's key with a's chain: %v; want ErrKeyMismatch", err)
	}
}
