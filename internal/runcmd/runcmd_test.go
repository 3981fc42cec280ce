package runcmd

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
)

// A program still open for writing cannot start (ETXTBSY); once the writer
// closes it, Run starts it.
func TestRunWaitsForTheWriter(t *testing.T) {
	p := filepath.Join(t.TempDir(), "prog.sh")
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o700)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString("#!/bin/sh\nexit 0\n"); err != nil {
		t.Fatal(err)
	}
	starts := 0
	err = Run(context.Background(), func() *exec.Cmd {
		starts++
		if starts == 2 {
			f.Close() // the writer is done
		}
		return exec.Command(p)
	})
	if err != nil || starts != 2 {
		t.Fatalf("Run = %v after %d starts; want success at the second", err, starts)
	}
}

// A program never released gives ETXTBSY after the last try.
func TestRunGivesUp(t *testing.T) {
	p := filepath.Join(t.TempDir(), "prog.sh")
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o700)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	f.WriteString("#!/bin/sh\nexit 0\n")
	starts := 0
	err = Run(context.Background(), func() *exec.Cmd { starts++; return exec.Command(p) })
	if !errors.Is(err, syscall.ETXTBSY) || starts != 5 {
		t.Fatalf("Run = %v after %d starts; want ETXTBSY after 5", err, starts)
	}
}
