package secenv

import (
	"slices"
	"testing"
)

func TestFilterDropsSecrets(t *testing.T) {
	env := []string{
		"PATH=/usr/bin",
		"HOME=/home/u",
		"CERTKEEPER_EAB_HMAC=h",
		"CERTKEEPER_TSIG_SECRET=t",
		"CERTKEEPER_DNS_WEBHOOK_AUTHORIZATION=Bearer x",
		"MY_DNS_CRED=c", // named by a setting
		"AWS_SECRET_ACCESS_KEY=a",
		"GITHUB_TOKEN=g",
		"PGPASSWORD=p",
		"CLOUDFLARE_API_KEY=k",
		"SSL_KEY=/etc/ssl/private/k.pem",
		"ssh_auth_sock=/tmp/s",
		"LANG=C.UTF-8",
	}
	got := Filter(env, "MY_DNS_CRED")
	want := []string{"PATH=/usr/bin", "HOME=/home/u", "SSL_KEY=/etc/ssl/private/k.pem", "ssh_auth_sock=/tmp/s", "LANG=C.UTF-8"}
	if !slices.Equal(got, want) {
		t.Fatalf("Filter = %q, want %q", got, want)
	}
}
