// signet-ocireg: an OCI 1.1 registry (go-containerregistry's pkg/registry
// with the referrers API switched on) for Signet's tests, with optional HTTP
// basic auth and TLS. It prints the address it listens on as the first line
// of stdout (and into --addr-file) and logs one line per request on stderr:
//
//	signet-ocireg: METHOD PATH STATUS
package main

import (
	"crypto/subtle"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"

	"github.com/google/go-containerregistry/pkg/registry"
)

// recorder logs "METHOD PATH STATUS" the moment the status is known, before
// any byte of the response is sent: a client that has its answer always
// finds the line in the log already.
type recorder struct {
	http.ResponseWriter
	req    *http.Request
	logger *log.Logger
	status int
}

func (r *recorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
		r.logger.Printf("%s %s %d", r.req.Method, r.req.URL.RequestURI(), code)
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.WriteHeader(http.StatusOK)
	}
	return r.ResponseWriter.Write(b)
}

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "address to listen on")
	addrFile := flag.String("addr-file", "", "also write the chosen address to this file")
	user := flag.String("user", "", "basic auth user name (auth is off when empty)")
	password := flag.String("password", "", "basic auth password")
	tlsCert := flag.String("tls-cert", "", "PEM certificate chain (TLS is off when empty)")
	tlsKey := flag.String("tls-key", "", "PEM private key")
	blobDir := flag.String("blob-dir", "", "keep blobs in this directory (in memory when empty)")
	flag.Parse()

	opts := []registry.Option{
		registry.WithReferrersSupport(true),
		registry.Logger(log.New(io.Discard, "", 0)),
	}
	if *blobDir != "" {
		opts = append(opts, registry.WithBlobHandler(registry.NewDiskBlobHandler(*blobDir)))
	}
	reg := registry.New(opts...)

	// Unbuffered: every line is one write(2) on stderr.
	logger := log.New(os.Stderr, "signet-ocireg: ", 0)
	handler := http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		rec := &recorder{ResponseWriter: w, req: req, logger: logger}
		if *user != "" {
			u, p, ok := req.BasicAuth()
			if !ok || subtle.ConstantTimeCompare([]byte(u), []byte(*user)) != 1 ||
				subtle.ConstantTimeCompare([]byte(p), []byte(*password)) != 1 {
				rec.Header().Set("WWW-Authenticate", `Basic realm="signet-ocireg"`)
				rec.Header().Set("Content-Type", "application/json")
				rec.WriteHeader(http.StatusUnauthorized)
				fmt.Fprint(rec, `{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`)
				return
			}
		}
		reg.ServeHTTP(rec, req)
		if rec.status == 0 {
			rec.WriteHeader(http.StatusOK)
		}
	})

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatalf("signet-ocireg: listen %s: %v", *addr, err)
	}
	bound := ln.Addr().String()
	if *addrFile != "" {
		tmp := *addrFile + ".tmp"
		if err := os.WriteFile(tmp, []byte(bound+"\n"), 0o644); err != nil {
			log.Fatalf("signet-ocireg: %v", err)
		}
		if err := os.Rename(tmp, *addrFile); err != nil {
			log.Fatalf("signet-ocireg: %v", err)
		}
	}
	fmt.Println(bound)

	srv := &http.Server{Handler: handler}
	if *tlsCert != "" {
		err = srv.ServeTLS(ln, *tlsCert, *tlsKey)
	} else {
		err = srv.Serve(ln)
	}
	log.Fatalf("signet-ocireg: %v", err)
}
