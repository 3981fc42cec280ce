package store

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
)

// sharedScheme is LayoutShared (see there for the keys): one directory
// per CA, so the ca arguments are not used.
type sharedScheme struct{ baseScheme }

func (sharedScheme) indexed() bool { return false }

// sharedEntry stands for the CA in the certificate locks of LayoutShared
// ("certkeeper/certificate/shared/<name>").
const sharedEntry = "shared"

func (sharedScheme) entryNames(_, name string) (caDir, enc string, err error) {
	k, err := sharedCertKey(name)
	if err != nil {
		return "", "", err
	}
	return sharedEntry, strings.TrimSuffix(k, ".pem"), nil
}

// sharedCertKey is the file of the certificate called name: "<name>.pem".
func sharedCertKey(name string) (string, error) {
	enc, err := EncodeName(name)
	if err != nil {
		return "", err
	}
	k := enc + ".pem"
	if err := ValidateKey(k); err != nil {
		return "", err
	}
	return k, nil
}

// sharedVersionsDir is where LayoutShared keeps the versions of
// "<name>.pem": certkeeper/versions/<name>/<n>.pem.
func sharedVersionsDir(enc string) string {
	return stateRoot + "/" + versionsDir + "/" + enc
}

// sharedVersionKey is version id of "<name>.pem".
func sharedVersionKey(enc string, id int) string {
	return sharedVersionsDir(enc) + "/" + strconv.Itoa(id) + ".pem"
}

func (sharedScheme) lineageKey(_, name string) (string, error) {
	enc, err := EncodeName(name)
	if err != nil {
		return "", err
	}
	return sharedLineageDir + "/" + enc + ".json", nil
}

func (s sharedScheme) lineageKeys(ctx context.Context, _ string) ([]string, error) {
	ks, err := s.c.Store.List(ctx, sharedLineageDir+"/")
	if err != nil {
		return nil, err
	}
	var out []string
	for _, k := range ks {
		if strings.HasSuffix(k, ".json") {
			out = append(out, k)
		}
	}
	return out, nil
}

// lineageOf: the records of every CA are in one directory.
func (sharedScheme) lineageOf(ca string, l *Lineage) bool { return ca == "" || l.CA == ca }

func (sharedScheme) revokedDir(_, name string) (string, error) {
	enc, err := EncodeName(name)
	if err != nil {
		return "", err
	}
	return sharedRevokedDir(enc), nil
}

// sharedRevokedDir holds the revocations of "<name>.pem":
// certkeeper/revoked/<name>/<serial>.json.
func sharedRevokedDir(enc string) string {
	return stateRoot + "/" + revokedDir + "/" + enc
}

func (sharedScheme) stateKey(_, name string) (string, error) {
	enc, err := EncodeName(name)
	if err != nil {
		return "", err
	}
	return stateRoot + "/" + legacyStateDir + "/" + enc + ".json", nil
}

func (sharedScheme) statePrefixes(string) ([]string, error) {
	return []string{stateRoot + "/" + legacyStateDir + "/", legacyStateDir + "/"}, nil
}

func (sharedScheme) stateEntry(prefix, k, _ string) (caDir, name string, ok bool) {
	_, enc, ok := splitStateKey(prefix, k)
	if !ok {
		return "", "", false
	}
	name, err := DecodeName(enc)
	return "", name, err == nil
}

func (sharedScheme) whatChanged(key string) Change {
	parts := strings.Split(key, "/")
	switch {
	case len(parts) == 1:
		enc, ok := strings.CutSuffix(parts[0], ".pem")
		name, err := DecodeName(enc)
		if !ok || err != nil {
			return Change{}
		}
		return Change{Kind: ChangeCertificate, Name: name}
	case len(parts) == 3 && parts[0] == stateRoot && parts[1] == legacyStateDir:
		return stateChange("", parts[2])
	case len(parts) == 3 && parts[0] == legacyStateDir:
		return stateChange("", parts[2])
	}
	return Change{}
}

func (sharedScheme) paths(p pather, _, name string) (CertPaths, error) {
	k, err := sharedCertKey(name)
	if err != nil {
		return CertPaths{}, err
	}
	var out CertPaths
	if out.Cert, err = p.Path(k); err != nil {
		return CertPaths{}, err
	}
	out.Key, out.Combined, out.Dir = out.Cert, out.Cert, filepath.Dir(out.Cert)
	return out, nil
}

// clearLeftovers: a "<name>.pem" is one Put, its versions whole files;
// only temporary files can be left.
func (s sharedScheme) clearLeftovers(_ context.Context, _, enc string) error {
	if tr, ok := s.c.Store.(tempRemover); ok {
		tr.removeTemps(".", enc+".pem")
		tr.removeTemps(sharedVersionsDir(enc))
		tr.removeTemps(stateRoot+"/"+legacyStateDir, enc+".json")
		tr.removeTemps(sharedLineageDir, enc+".json")
		tr.removeTemps(sharedRevokedDir(enc))
	}
	return nil
}

func (sharedScheme) checkAccount(_, id string) error {
	if id != "" && id != defaultID {
		return fmt.Errorf("%w: the shared layout holds one account; its ID is \"default\", not %q", ErrInvalidKey, id)
	}
	return nil
}

// accountDeactivatedKey: the one account, client.key, serves every CA.
func (sharedScheme) accountDeactivatedKey(_, _ string) (string, error) {
	return sharedDeactivated, nil
}
