package acme

import (
	"net/http"
	"net/url"
	"strings"
)

// link is one link-value of a Link header (RFC 8288 §3).
type link struct {
	URL  string
	Rels []string
}

// parseLinks parses Link header values: several link-values per header,
// separated by commas, and any number of headers. Parameters other than
// rel are ignored; a malformed link-value is skipped, not an error.
func parseLinks(values []string) []link {
	var out []link
	for _, v := range values {
		for {
			v = strings.TrimLeft(v, " \t,")
			if v == "" || v[0] != '<' {
				// Skip to the next link-value, if any.
				i := strings.IndexByte(v, ',')
				if i < 0 {
					break
				}
				v = v[i+1:]
				continue
			}
			end := strings.IndexByte(v, '>')
			if end < 0 {
				break
			}
			l := link{URL: strings.TrimSpace(v[1:end])}
			v = v[end+1:]
			// Parameters up to the next comma outside quotes.
			for {
				v = strings.TrimLeft(v, " \t")
				if v == "" || v[0] != ';' {
					break
				}
				v = v[1:]
				var name, val string
				name, val, v = parseLinkParam(v)
				if strings.EqualFold(name, "rel") && l.Rels == nil {
					// RFC 8288 §3.3: only the first rel counts; its
					// value is a space-separated list.
					l.Rels = strings.Fields(strings.ToLower(val))
				}
			}
			out = append(out, l)
			if v == "" || v[0] != ',' {
				// Garbage after a link-value: resync at the next comma.
				i := strings.IndexByte(v, ',')
				if i < 0 {
					break
				}
				v = v[i:]
			}
		}
	}
	return out
}

// parseLinkParam parses `name=value` or `name="quoted value"` and returns
// the rest of the string.
func parseLinkParam(s string) (name, val, rest string) {
	s = strings.TrimLeft(s, " \t")
	i := strings.IndexAny(s, "=;,")
	if i < 0 {
		return strings.TrimSpace(s), "", ""
	}
	name = strings.TrimSpace(s[:i])
	if s[i] != '=' {
		return name, "", s[i:]
	}
	s = strings.TrimLeft(s[i+1:], " \t")
	if s != "" && s[0] == '"' {
		var b strings.Builder
		for j := 1; j < len(s); j++ {
			switch s[j] {
			case '\\':
				if j+1 < len(s) {
					j++
					b.WriteByte(s[j])
				}
			case '"':
				return name, b.String(), s[j+1:]
			default:
				b.WriteByte(s[j])
			}
		}
		return name, b.String(), ""
	}
	j := strings.IndexAny(s, ";,")
	if j < 0 {
		return name, strings.TrimSpace(s), ""
	}
	return name, strings.TrimSpace(s[:j]), s[j:]
}

// linkURLs returns the URLs of h's links with relation rel, resolved
// against base, without duplicates, in header order.
func linkURLs(h http.Header, rel string, base *url.URL) []string {
	var out []string
	seen := map[string]bool{}
	for _, l := range parseLinks(h.Values("Link")) {
		for _, r := range l.Rels {
			if r != rel {
				continue
			}
			u := resolveRef(base, l.URL)
			if !seen[u] {
				seen[u] = true
				out = append(out, u)
			}
			break
		}
	}
	return out
}
