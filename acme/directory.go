package acme

import (
	"context"
	"errors"
	"net/http"
)

// Directory returns the CA's directory (RFC 8555 §7.1.1). It is fetched on
// first use, with retries on transport errors and 5xx, and then cached for
// the life of the Client; a failed fetch is not cached.
func (c *Client) Directory(ctx context.Context) (Directory, error) {
	c.init()
	if d := c.dir.Load(); d != nil {
		return *d, nil
	}
	select {
	case c.dirSem <- struct{}{}:
	case <-ctx.Done():
		return Directory{}, ctx.Err()
	}
	defer func() { <-c.dirSem }()
	if d := c.dir.Load(); d != nil {
		return *d, nil
	}
	if c.DirectoryURL == "" {
		return Directory{}, errors.New("acme: Client.DirectoryURL is empty")
	}
	var dir Directory
	err := c.retry(ctx, op{"directory", http.MethodGet, c.DirectoryURL, "", ""}, func() error {
		r, err := c.do(ctx, "directory", http.MethodGet, c.DirectoryURL, nil, "application/json", maxJSONBody)
		if err != nil {
			return err
		}
		if !isSuccess(r.status) {
			return c.errorResponse("directory", c.DirectoryURL, r)
		}
		dir, err = parseDirectory(r.body)
		if err == nil {
			dir = dir.resolve(r)
		}
		return err
	})
	if err != nil {
		return Directory{}, err
	}
	c.dir.Store(&dir)
	return dir, nil
}

// resolve makes the directory's URLs absolute against the directory URL.
func (d Directory) resolve(r *response) Directory {
	for _, u := range []*string{&d.NewNonce, &d.NewAccount, &d.NewOrder, &d.NewAuthz, &d.RevokeCert, &d.KeyChange, &d.RenewalInfo} {
		if *u != "" {
			*u = resolveRef(r.url, *u)
		}
	}
	return d
}
