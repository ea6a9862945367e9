// Package examples holds one runnable example per router, each mounting
// httplimit on the same login service the way that router expects:
//
//	servemux  net/http's ServeMux, wrapped whole by Middleware.Handler
//	chi       github.com/go-chi/chi/v5, with r.Use(m.Handler) or m.Handler(r)
//	gin       github.com/gin-gonic/gin, through a gin.HandlerFunc bridge
//	echo      github.com/labstack/echo/v4, through an echo.MiddlewareFunc bridge
//
// This is a module of its own, so that the floodgate module requires no
// router. docs/http.md compares the four.
package examples
