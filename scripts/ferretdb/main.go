// Command ferretdb runs FerretDB v1 (SQLite handler) as a standalone MongoDB-wire server for the
// harness's MongoDB plane where no mongod exists. It embeds FerretDB through its public package
// because `go install .../cmd/ferretdb` panics at start: that command's version file is generated
// by FerretDB's own build tooling, which the embedding package does not need.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"github.com/FerretDB/FerretDB/build/version"
	"github.com/FerretDB/FerretDB/ferretdb"
)

const module = "github.com/FerretDB/FerretDB"

// ferretVersion is the FerretDB module version this binary was built with (from go.mod).
func ferretVersion() string {
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, dep := range info.Deps {
			if dep.Path == module {
				return dep.Version
			}
		}
	}
	return "unknown"
}

func main() {
	listen := flag.String("listen-addr", "127.0.0.1:27017", "TCP address to listen on")
	data := flag.String("data-dir", "", "directory for the SQLite files (required)")
	level := flag.String("log-level", "warn", "debug, info, warn or error")
	showVersion := flag.Bool("version", false, "print the version and exit")
	flag.Parse()

	if *showVersion {
		fmt.Printf("ferretdb %s (sqlite handler, embedded)\n", ferretVersion())
		return
	}
	if *data == "" {
		fmt.Fprintln(os.Stderr, "ferretdb: --data-dir is required")
		os.Exit(2)
	}
	if err := os.MkdirAll(*data, 0o755); err != nil {
		fmt.Fprintf(os.Stderr, "ferretdb: %s\n", err)
		os.Exit(1)
	}

	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(*level)); err != nil {
		fmt.Fprintf(os.Stderr, "ferretdb: --log-level: %s\n", err)
		os.Exit(2)
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: lvl}))

	// The version FerretDB reports (buildInfo.ferretdbVersion) comes from files its own build tooling
	// generates; without them it says "unknown". Say what the module is, so the harness can name it.
	version.Get().Version = ferretVersion()

	f, err := ferretdb.New(&ferretdb.Config{
		Listener:  ferretdb.ListenerConfig{TCP: *listen},
		Logger:    logger,
		Handler:   "sqlite",
		SQLiteURL: "file:" + *data + "/",
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "ferretdb: %s\n", err)
		os.Exit(1)
	}

	// SIGTERM and SIGINT stop the listener and close the backend, so the harness's teardown is clean.
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	logger.Warn("listening", "addr", *listen, "data", *data, "version", ferretVersion())
	if err := f.Run(ctx); err != nil {
		fmt.Fprintf(os.Stderr, "ferretdb: %s\n", err)
		os.Exit(1)
	}
}
