package manager

import (
	"context"
	"fmt"

	"github.com/certkeeper/certkeeper/issue"
	"github.com/certkeeper/certkeeper/keys"
	"github.com/certkeeper/certkeeper/store"
)

// save stores an issued certificate and returns it ready to serve. The
// certificate is returned even when it could not be stored.
func (m *Manager) save(ctx context.Context, c Spec, req issue.Request, ic *issue.Issued) (*held, error) {
	res := store.CertRecord{
		Name:       c.Name,
		CA:         c.Issuer.Client.DirectoryURL,
		CertURL:    ic.Chain.URL,
		Profile:    req.Profile,
		ObtainedAt: m.cfg.Clock.Now().UTC(),
		ChainPEM:   ic.Chain.PEM,
	}
	for _, id := range ic.Identifiers {
		res.Identifiers = append(res.Identifiers, id.Value)
	}
	if len(res.Identifiers) == 0 {
		for _, id := range c.Identifiers {
			res.Identifiers = append(res.Identifiers, id.Value)
		}
	}
	if ic.Key != nil {
		var err error
		if res.KeyPEM, err = keys.MarshalPEM(ic.Key); err != nil {
			return nil, fmt.Errorf("certificate obtained but its key cannot be encoded: %w", err)
		}
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
