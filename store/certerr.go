package store

import "fmt"

// CertificateError is the error of one certificate that ListCertificates
// could not load (one of those it joins): Key is where the certificate is
// stored, as CertificateKey names it, and Err why it could not be read.
// Its text is Err's.
type CertificateError struct {
	Key string
	Err error
}

func (e *CertificateError) Error() string { return e.Err.Error() }
func (e *CertificateError) Unwrap() error { return e.Err }

// CertificateKey returns the key under which the certificate called name
// from the CA with directory URL ca is stored: its directory in
// LayoutStandard, its file in LayoutShared; the key a CertificateError
// names. It wraps ErrInvalidKey for a ca or name that cannot be stored.
func (c *Certs) CertificateKey(ca, name string) (string, error) {
	switch s := c.scheme().(type) {
	case standardScheme:
		caDir, enc, err := s.entryNames(ca, name)
		if err != nil {
			return "", err
		}
		return certDirOf(caDir, enc), nil
	case sharedScheme:
		return sharedCertKey(name)
	default:
		return "", fmt.Errorf("store: no certificate key in layout %v", c.Layout)
	}
}
