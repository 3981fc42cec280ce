package engine

import (
	"slices"
	"testing"

	"github.com/certkeeper/certkeeper/store"
)

// withHooks adds the hooks of ManageOptions.StoredHooks to a stored
// lineage's own, before them, leaving out those it records already: a
// hook that ran twice would reload a server twice.
func TestWithHooks(t *testing.T) {
	reload := store.LineageHook{Command: "/usr/sbin/reload", Args: []string{"nginx"}, Events: []string{"renewed"}, Timeout: "1m"}
	alert := store.LineageHook{Command: "/usr/local/bin/alert", Events: []string{"failed"}}
	deploy := store.LineageHook{Command: "/usr/local/bin/deploy"}
	for _, tc := range []struct {
		name       string
		extra, own []store.LineageHook
		want       []store.LineageHook
	}{
		{"none added", nil, []store.LineageHook{deploy}, []store.LineageHook{deploy}},
		{"added before its own", []store.LineageHook{reload, alert}, []store.LineageHook{deploy}, []store.LineageHook{reload, alert, deploy}},
		{"recorded already", []store.LineageHook{reload, alert}, []store.LineageHook{reload}, []store.LineageHook{alert, reload}},
		{"the same timeout written otherwise", []store.LineageHook{reload}, []store.LineageHook{with(reload, func(h *store.LineageHook) { h.Timeout = "60s" })}, []store.LineageHook{with(reload, func(h *store.LineageHook) { h.Timeout = "60s" })}},
		{"no arguments as an empty list", []store.LineageHook{with(deploy, func(h *store.LineageHook) { h.Args = []string{} })}, []store.LineageHook{deploy}, []store.LineageHook{deploy}},
		{"other events", []store.LineageHook{with(deploy, func(h *store.LineageHook) { h.Events = []string{"failed"} })}, []store.LineageHook{deploy}, []store.LineageHook{with(deploy, func(h *store.LineageHook) { h.Events = []string{"failed"} }), deploy}},
		{"other arguments", []store.LineageHook{with(reload, func(h *store.LineageHook) { h.Args = []string{"apache"} })}, []store.LineageHook{reload}, []store.LineageHook{with(reload, func(h *store.LineageHook) { h.Args = []string{"apache"} }), reload}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := withHooks(tc.extra, tc.own)
			if !slices.EqualFunc(got, tc.want, func(a, b store.LineageHook) bool {
				return a.Command == b.Command && a.Timeout == b.Timeout && slices.Equal(a.Args, b.Args) && slices.Equal(a.Events, b.Events)
			}) {
				t.Errorf("withHooks(%+v, %+v) = %+v, want %+v", tc.extra, tc.own, got, tc.want)
			}
		})
	}
}

func with(h store.LineageHook, f func(*store.LineageHook)) store.LineageHook {
	h.Args, h.Events = slices.Clone(h.Args), slices.Clone(h.Events)
	f(&h)
	return h
}
