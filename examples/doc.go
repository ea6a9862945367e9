// Package examples holds one runnable example per router, each serving
// the same login service limited by httplimit, mounted the way that
// router expects:
//
//	servemux  net/http's ServeMux, wrapped whole by Middleware.Handler
//	chi       github.com/go-chi/chi/v5, through httplimit/chilimit
//	gin       github.com/gin-gonic/gin, through httplimit/ginlimit
//	echo      github.com/labstack/echo/v4, through httplimit/echolimit
//
// This is a module of its own, so that the floodgate module requires no
// router. docs/http.md compares the four.
package examples
