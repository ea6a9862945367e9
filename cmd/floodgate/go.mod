module github.com/floodgate-go/floodgate/cmd/floodgate

go 1.25.0

replace github.com/floodgate-go/floodgate => ../..

require (
	github.com/floodgate-go/floodgate v0.0.0-00010101000000-000000000000
	github.com/redis/rueidis v1.0.79
)

require golang.org/x/sys v0.47.0 // indirect
