// A minimal QueryServer in Go, the baseline of bench/query/realtime-proxy.ts: POST /query with the0's body
// {bot_id, query_path, params}, proxied to one bot's query server with a keep-alive client (params as the JSON
// body and as the query string, as our QueryServer sends them), the bot's {status, data, error} answered with
// duration and timestamp. No store, no cluster: the bot's address is given. Standard library only.
//
//	go run . -listen 127.0.0.1:0 -bot 127.0.0.1:9476
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"
)

type queryRequest struct {
	BotID      string         `json:"bot_id"`
	QueryPath  string         `json:"query_path"`
	Params     map[string]any `json:"params,omitempty"`
	TimeoutSec int            `json:"timeout_sec,omitempty"`
}

type queryResult struct {
	Status string `json:"status"`
	Data   any    `json:"data,omitempty"`
	Error  string `json:"error,omitempty"`
}

type queryResponse struct {
	Status    string        `json:"status"`
	Data      any           `json:"data,omitempty"`
	Error     string        `json:"error,omitempty"`
	Duration  time.Duration `json:"duration"`
	Timestamp time.Time     `json:"timestamp"`
}

func writeJSON(w http.ResponseWriter, status int, body any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}

func fail(w http.ResponseWriter, status int, message string) {
	writeJSON(w, status, queryResponse{Status: "error", Error: message, Timestamp: time.Now().UTC()})
}

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "address to serve POST /query on")
	bot := flag.String("bot", "127.0.0.1:9476", "host:port of the bot's query server")
	flag.Parse()

	client := &http.Client{
		Transport: &http.Transport{
			MaxIdleConns:        256,
			MaxIdleConnsPerHost: 256,
			IdleConnTimeout:     90 * time.Second,
		},
	}

	mux := http.NewServeMux()
	mux.HandleFunc("/health", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("/query", func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			fail(w, http.StatusMethodNotAllowed, "method not allowed")
			return
		}
		var req queryRequest
		if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&req); err != nil {
			fail(w, http.StatusBadRequest, "invalid request body: "+err.Error())
			return
		}
		if req.BotID == "" || req.QueryPath == "" {
			fail(w, http.StatusBadRequest, "bot_id and query_path are required")
			return
		}
		path := req.QueryPath
		if !strings.HasPrefix(path, "/") {
			path = "/" + path
		}
		target := "http://" + *bot + path
		var body io.Reader = http.NoBody
		if len(req.Params) > 0 {
			encoded, _ := json.Marshal(req.Params)
			body = bytes.NewReader(encoded)
			query := url.Values{}
			for k, v := range req.Params {
				if s, ok := v.(string); ok {
					query.Set(k, s)
				} else {
					text, _ := json.Marshal(v)
					query.Set(k, string(text))
				}
			}
			target += "?" + query.Encode()
		}
		timeout := 30 * time.Second
		if req.TimeoutSec > 0 {
			timeout = time.Duration(req.TimeoutSec) * time.Second
		}
		ctx, cancel := context.WithTimeout(r.Context(), timeout)
		defer cancel()
		started := time.Now()
		outbound, err := http.NewRequestWithContext(ctx, http.MethodPost, target, body)
		if err != nil {
			fail(w, http.StatusInternalServerError, err.Error())
			return
		}
		outbound.Header.Set("Content-Type", "application/json")
		answer, err := client.Do(outbound)
		if err != nil {
			writeJSON(w, http.StatusInternalServerError, queryResponse{Status: "error", Error: "failed to execute query request: " + err.Error(), Duration: time.Since(started), Timestamp: time.Now().UTC()})
			return
		}
		raw, err := io.ReadAll(io.LimitReader(answer.Body, 16<<20))
		answer.Body.Close()
		var result queryResult
		if err == nil {
			err = json.Unmarshal(raw, &result)
		}
		if err != nil {
			writeJSON(w, http.StatusInternalServerError, queryResponse{Status: "error", Error: "failed to parse query response: " + err.Error(), Duration: time.Since(started), Timestamp: time.Now().UTC()})
			return
		}
		status := http.StatusOK
		if result.Status == "error" {
			status = http.StatusInternalServerError
		}
		writeJSON(w, status, queryResponse{Status: result.Status, Data: result.Data, Error: result.Error, Duration: time.Since(started), Timestamp: time.Now().UTC()})
	})

	listener, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Fprintf(os.Stdout, "listening %d\n", listener.Addr().(*net.TCPAddr).Port)
	log.Fatal((&http.Server{Handler: mux, ReadHeaderTimeout: 30 * time.Second}).Serve(listener))
}
