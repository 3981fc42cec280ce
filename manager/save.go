package manager

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/certkeeper/certkeeper/issue"
	"github.com/certkeeper/certkeeper/keys"
	"github.com/certkeeper/certkeeper/store"
)

// RecordOf is the one conversion from an issued certificate to a stored
// one: the store.CertRecord that keeps ic, obtained at the time at for c.
// Name, CA (c.Issuer.Client.DirectoryURL) and Profile come from c;
// CertURL (RFC 8555 §7.4.2), the chain (PEM, leaf first) and the
// identifiers from ic (c's when ic names none); KeyPEM is ic.Key in PEM,
// nil when the order was for a CSR and the user keeps the key. ObtainedAt
// is at in UTC; Key and Certificates are ic's key and chain as the order
// parsed them. An empty c.Name is left for SaveCertificate, which uses
// the first identifier. The error is that of a nil ic or a key that
// cannot be encoded (keys.MarshalPEM).
func RecordOf(c Spec, ic *issue.Issued, at time.Time) (store.CertRecord, error) {
	if ic == nil {
		return store.CertRecord{}, errors.New("manager: RecordOf: no issued certificate")
	}
	res := store.CertRecord{
		Name:       c.Name,
		CertURL:    ic.Chain.URL,
		Profile:    c.Profile,
		ObtainedAt: at.UTC(),
		ChainPEM:   ic.Chain.PEM,
		// Parsed by the order already: parseHeld and the store use them
		// rather than parse the PEM again (the store once it has seen
		// that they are the PEM's).
		Certificates: ic.Chain.Certificates,
		Key:          ic.Key,
	}
	if c.Issuer != nil && c.Issuer.Client != nil {
		res.CA = c.Issuer.Client.DirectoryURL
	}
	ids := ic.Identifiers
	if len(ids) == 0 {
		ids = c.Identifiers
	}
	for _, id := range ids {
		res.Identifiers = append(res.Identifiers, id.Value)
	}
	if ic.Key != nil {
		var err error
		if res.KeyPEM, err = keys.MarshalPEM(ic.Key); err != nil {
			return store.CertRecord{}, fmt.Errorf("manager: the issued certificate's key cannot be encoded: %w", err)
		}
	}
	return res, nil
}

// save stores an issued certificate and returns it ready to serve. The
// certificate is returned even when it could not be stored.
func (m *Manager) save(ctx context.Context, c Spec, ic *issue.Issued) (*held, error) {
	res, err := RecordOf(c, ic, m.cfg.Clock.Now())
	if err != nil {
		return nil, fmt.Errorf("certificate obtained but not recordable: %w", err)
	}
	h, err := parseHeld(res)
	if err != nil {
		return nil, fmt.Errorf("certificate obtained but unusable: %w", err)
	}
	if err := m.certs.SaveCertificate(context.WithoutCancel(ctx), res); err != nil {
		path, rerr := m.rescue(c.Name, res)
		if rerr != nil {
			return h, fmt.Errorf("certificate obtained but not stored: %w; nor could it be written elsewhere: %w", err, rerr)
		}
		m.cfg.Logger.ErrorContext(ctx, "certificate obtained but not stored; its key and chain are in "+path, "name", c.Name, "error", err)
		return h, &RescuedError{Path: path, Err: err}
	}
	// The version it was stored as: read under the order's lock, which
	// every writer of it that orders holds.
	if n, err := m.certs.StoredVersion(ctx, c.Issuer.Client.DirectoryURL, c.Name); err == nil {
		h.version = n
	}
	return h, nil
}

// RescuedError is the error of an order whose certificate the CA issued
// but the store refused: the key and chain were written to Path instead.
type RescuedError struct {
	Path string
	Err  error
}

func (e *RescuedError) Error() string {
	return fmt.Sprintf("certificate obtained but not stored (%v); its key and chain were saved to %s", e.Err, e.Path)
}

func (e *RescuedError) Unwrap() error { return e.Err }

// rescue writes res's key and chain to a new file in Config.RescueDir.
func (m *Manager) rescue(name string, res store.CertRecord) (string, error) {
	dir := m.cfg.RescueDir
	if dir == "" {
		dir = os.TempDir()
	}
	enc, err := store.EncodeName(name)
	if err != nil {
		enc = "certificate"
	}
	f, err := os.CreateTemp(dir, "certkeeper-rescue-"+enc+"-"+time.Now().UTC().Format("20060102T150405Z")+"-*.pem")
	if err != nil {
		return "", err
	}
	data := append(append([]byte(nil), res.KeyPEM...), res.ChainPEM...)
	_, werr := f.Write(data)
	serr := f.Sync()
	cerr := f.Close()
	if err := errors.Join(werr, serr, cerr); err != nil {
		os.Remove(f.Name()) // not left half-written, holding part of a key
		return "", err
	}
	return f.Name(), nil
}
