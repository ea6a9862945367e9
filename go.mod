module github.com/floodgate-go/floodgate

go 1.25.0

require (
	github.com/cespare/xxhash/v2 v2.3.0
	github.com/redis/rueidis v1.0.79
	github.com/stretchr/testify v1.12.1
)

require (
	go.yaml.in/yaml/v3 v3.0.5 // indirect
	golang.org/x/sys v0.47.0 // indirect
)
