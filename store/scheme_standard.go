package store

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path"
	"strconv"
	"strings"
)

// standardScheme is LayoutStandard (see there for the keys).
type standardScheme struct{ baseScheme }

func (standardScheme) indexed() bool { return true }

func (standardScheme) entryNames(ca, name string) (caDir, enc string, err error) {
	if caDir, err = CADirName(ca); err != nil {
		return "", "", err
	}
	if enc, err = EncodeName(name); err != nil {
		return "", "", err
	}
	return caDir, enc, nil
}

// certDir is the directory of the certificate called name from ca:
// certificates/<ca>/<name>.
func (s standardScheme) certDir(ca, name string) (string, error) {
	caDir, enc, err := s.entryNames(ca, name)
	if err != nil {
		return "", err
	}
	return certDirOf(caDir, enc), nil
}

// certDirOf is certDir from the components entryNames returns.
func certDirOf(caDir, enc string) string {
	return certsDir + "/" + caDir + "/" + enc
}

// certPrefixes are the prefixes under which the certificate directories
// of ca are ("" for every CA): where CADirName puts them, then where an
// older certkeeper put them (the host and port only), if that differs.
func certPrefixes(area, ca string) ([]string, error) {
	prefixes := []string{area + "/"}
	if ca != "" {
		caDir, err := CADirName(ca)
		if err != nil {
			return nil, err
		}
		prefixes[0] += caDir + "/"
		if old, err := legacyCADirName(ca); err == nil && old != caDir {
			prefixes = append(prefixes, area+"/"+old+"/")
		}
	}
	return prefixes, nil
}

// versionKey is the directory of version n in a certificate's directory.
func versionKey(dir string, n int) string {
	return dir + "/" + versionsDir + "/" + strconv.Itoa(n)
}

func (s standardScheme) lineageKey(ca, name string) (string, error) {
	dir, err := s.certDir(ca, name)
	if err != nil {
		return "", err
	}
	return dir + "/" + lineageFile, nil
}

func (s standardScheme) lineageKeys(ctx context.Context, ca string) ([]string, error) {
	prefix := certsDir + "/"
	if ca != "" {
		caDir, err := CADirName(ca)
		if err != nil {
			return nil, err
		}
		prefix += caDir + "/"
	}
	ks, err := s.c.Store.List(ctx, prefix)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, k := range ks {
		if parts := strings.Split(k, "/"); len(parts) == 4 && parts[3] == lineageFile {
			out = append(out, k)
		}
	}
	return out, nil
}

// lineageOf: the keys of ca hold only ca's records.
func (standardScheme) lineageOf(string, *Lineage) bool { return true }

func (s standardScheme) revokedDir(ca, name string) (string, error) {
	dir, err := s.certDir(ca, name)
	if err != nil {
		return "", err
	}
	return dir + "/" + revokedDir, nil
}

func (s standardScheme) stateKey(ca, name string) (string, error) {
	caDir, enc, err := s.entryNames(ca, name)
	if err != nil {
		return "", err
	}
	return legacyStateDir + "/" + caDir + "/" + enc + ".json", nil
}

func (standardScheme) statePrefixes(ca string) ([]string, error) {
	return certPrefixes(legacyStateDir, ca)
}

func (standardScheme) stateEntry(prefix, k, ca string) (caDir, name string, ok bool) {
	caDir, enc, ok := splitStateKey(prefix, k)
	if !ok {
		return "", "", false
	}
	if ca != "" {
		caDir = path.Base(strings.TrimSuffix(prefix, "/"))
	}
	if caDir == "" || strings.Contains(caDir, "/") {
		return "", "", false
	}
	name, err := DecodeName(enc)
	return caDir, name, err == nil
}

// splitStateKey cuts the key k of a renewal state found under prefix
// into what is between them and the name's component.
func splitStateKey(prefix, k string) (dir, enc string, ok bool) {
	rest, ok := strings.CutSuffix(strings.TrimPrefix(k, prefix), ".json")
	if !ok {
		return "", "", false
	}
	if i := strings.LastIndexByte(rest, '/'); i >= 0 {
		return rest[:i], rest[i+1:], true
	}
	return "", rest, true
}

func (standardScheme) whatChanged(key string) Change {
	parts := strings.Split(key, "/")
	switch {
	case len(parts) == 3 && parts[0] == legacyStateDir:
		return stateChange(parts[1], parts[2])
	case len(parts) == 4 && parts[0] == certsDir:
		switch parts[3] {
		case pointerKey, liveLink, certFile:
		default:
			return Change{}
		}
		name, err := DecodeName(parts[2])
		if err != nil {
			return Change{}
		}
		return Change{Kind: ChangeCertificate, CADir: parts[1], Name: name}
	}
	return Change{}
}

// stateChange is the Change of the renewal state file "<name>.json".
func stateChange(caDir, file string) Change {
	enc, ok := strings.CutSuffix(file, ".json")
	name, err := DecodeName(enc)
	if !ok || err != nil {
		return Change{}
	}
	return Change{Kind: ChangeState, CADir: caDir, Name: name}
}

func (s standardScheme) paths(p pather, ca, name string) (CertPaths, error) {
	dir, err := s.certDir(ca, name)
	if err != nil {
		return CertPaths{}, err
	}
	var out CertPaths
	file := func(dst *string, key string) {
		if err == nil {
			*dst, err = p.Path(key)
		}
	}
	file(&out.Dir, dir)
	file(&out.Live, dir+"/"+liveLink)
	file(&out.Cert, dir+"/"+certFile)
	file(&out.Key, dir+"/"+keyFile)
	file(&out.Combined, dir+"/"+combinedFile)
	file(&out.Meta, dir+"/"+metaFile)
	if err != nil {
		return CertPaths{}, err
	}
	// A stored certificate without a key.pem at the top (its current
	// version has none; a store written before such links were removed
	// may still hold a dangling one) has no Key.
	if _, cerr := os.Stat(out.Cert); cerr == nil {
		if _, kerr := os.Stat(out.Key); errors.Is(kerr, fs.ErrNotExist) {
			out.Key = ""
		}
	}
	return out, nil
}

func (s standardScheme) clearLeftovers(ctx context.Context, caDir, enc string) error {
	dir := certDirOf(caDir, enc)
	if tr, ok := s.c.Store.(tempRemover); ok {
		tr.removeTemps(dir, keyFile, certFile, combinedFile, metaFile, liveLink, pointerKey, lineageFile)
		tr.removeTemps(dir + "/" + versionsDir)
		tr.removeTemps(dir + "/" + revokedDir)
		tr.removeTemps(legacyStateDir+"/"+caDir, enc+".json")
	}
	listed, err := s.c.rollBackVersions(ctx, dir)
	if err != nil {
		return err
	}
	return s.c.repairTop(ctx, dir, listed)
}

// accountDir is the directory of account id ("" means "default") at ca:
// accounts/<ca>/<id>.
func (standardScheme) accountDir(ca, id string) (string, error) {
	if id == "" {
		id = defaultID
	}
	if err := checkIDComponent(id); err != nil {
		return "", err
	}
	caDir, err := CADirName(ca)
	if err != nil {
		return "", err
	}
	return accountsDir + "/" + caDir + "/" + id, nil
}

func (s standardScheme) checkAccount(ca, id string) error {
	_, err := s.accountDir(ca, id)
	return err
}

func (s standardScheme) accountDeactivatedKey(ca, id string) (string, error) {
	dir, err := s.accountDir(ca, id)
	if err != nil {
		return "", err
	}
	return dir + "/" + deactivatedFile, nil
}
