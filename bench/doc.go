// Package bench compares Floodgate with the in-memory rate limiters that Go
// users pick today. See README.md.
package bench
