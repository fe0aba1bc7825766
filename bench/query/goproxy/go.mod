module the0-runtime/bench/query/goproxy

go 1.26
