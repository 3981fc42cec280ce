package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// RebuildIndex writes the index again from the certificates, lineage
// records and renewal states the store holds, reading and parsing every
// one of them: for a store whose index is missing or suspected wrong.
// Schedules recorded in the index before are kept for the certificates
// they are about, unless a state says more.
func (c *Certs) RebuildIndex(ctx context.Context) error {
	if !c.indexes() {
		return ErrNoIndex
	}
	unlock, err := c.Store.Lock(ctx, indexLock)
	if err != nil {
		return err
	}
	old, err := c.readIndex(ctx, false)
	unlock()
	if errors.Is(err, ErrTooLarge) {
		// A shard grown past what Get reads (appended to by a version
		// that did not compact it): the schedules come from the states.
		old, err = newIndex(), nil
	}
	if err != nil {
		return err
	}
	dirs, err := c.certDirs(ctx, certsDir+"/")
	if err != nil {
		return err
	}
	shards := map[string]*shard{}
	for i := range indexShards {
		shards[fmt.Sprintf("%s/%x", indexDir, i)] = newShard()
	}
	caOf := map[string]string{} // CADirName → directory URL
	for _, dir := range dirs {
		res, err := c.loadStandardAt(ctx, dir)
		if err != nil {
			continue // not readable: not served from the index either
		}
		if res.CA == "" {
			continue
		}
		r := recordOf(res, res.Certificates[0], res.Version)
		k := indexKey{r.CA, r.Name}
		if o := old.recs[k]; o != nil && o.Serial == r.Serial {
			r.Schedule = o.Schedule
		}
		if s := old.scheds[k]; s != nil {
			shards[shardOf(r.CA, r.Name)].scheds[k] = s
		}
		shards[shardOf(r.CA, r.Name)].recs[k] = r
		if d, err := CADirName(r.CA); err == nil {
			caOf[d] = r.CA
		}
	}
	// Unreadable lineage records are left out, as List leaves them out.
	ls, _ := c.ListLineages(ctx, "")
	for _, l := range ls {
		k := indexKey{l.CA, l.Name}
		shards[shardOf(l.CA, l.Name)].lins[k] = &IndexLineage{Account: l.Account, Identifiers: l.Identifiers}
		if d, err := CADirName(l.CA); err == nil {
			caOf[d] = l.CA
		}
	}
	sts, _ := c.ListStates(ctx, "")
	for _, st := range sts {
		s, ca, ok := stateSchedule(st.Data)
		if !ok {
			continue
		}
		if ca == "" {
			ca = caOf[st.CADir] // a state written before managers kept the CA
		}
		if ca == "" || st.Name == "" {
			continue
		}
		k := indexKey{ca, st.Name}
		sh := shards[shardOf(ca, st.Name)]
		sh.scheds[k] = &s
		if r := sh.recs[k]; r != nil {
			r.Schedule = s
		}
	}
	unlock, err = c.Store.Lock(ctx, indexLock)
	if err != nil {
		return err
	}
	defer unlock()
	for key, sh := range shards {
		if _, _, err := c.putShard(ctx, key, sh); err != nil {
			return err
		}
	}
	if err := c.Store.Put(ctx, indexMarker, []byte(indexMagic+"\n")); err != nil {
		return err
	}
	return c.Store.Put(ctx, indexFull, []byte(indexMagic+"\n"))
}

// stateSchedule reads the schedule out of a renewal state as package
// manager stores it (its JSON keys), and the state's CA ("" if it does
// not say).
func stateSchedule(data []byte) (Schedule, string, bool) {
	var st struct {
		CA          string    `json:"ca"`
		Serial      string    `json:"serial"`
		NextRenewal time.Time `json:"next_renewal"`
		LastSuccess time.Time `json:"last_success"`
		LastError   string    `json:"last_error"`
		Failures    int       `json:"failures"`
		NextAttempt time.Time `json:"next_attempt"`
		RenewAt     time.Time `json:"ari_renew_at"`
		Recheck     time.Time `json:"ari_retry_after"`
	}
	if err := json.Unmarshal(data, &st); err != nil {
		return Schedule{}, "", false
	}
	s := Schedule{Serial: st.Serial, NextRenewal: st.NextRenewal.UTC(), RenewAt: st.RenewAt.UTC(), Recheck: st.Recheck.UTC(),
		Failures: st.Failures, NextAttempt: st.NextAttempt.UTC(), LastError: st.LastError, LastSuccess: st.LastSuccess.UTC()}
	// A long LastError is cut, and marked so, where it is written
	// (schedLine).
	return s, st.CA, true
}
