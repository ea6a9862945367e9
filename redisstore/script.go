package redisstore

import _ "embed" // the scripts

// The Lua scripts live in lua/*.lua, one file per script, each naming
// the Go functions it mirrors. Every script is the shared prelude
// (lua/prelude.lua: the argument layout, the time, exact wide products,
// the checks on foreign data) followed by its body, with the helpers of
// the moving-window log (lua/log.lua) between them for the moving-window
// and refund scripts; a Store runs one of
// windowScript, gcraScript and movingScript, and refundScript for
// Refund. See lua/prelude.lua for the arguments and each body for its
// reply.
var (
	//go:embed lua/prelude.lua
	preludeLua string
	//go:embed lua/window.lua
	windowBody string
	//go:embed lua/gcra.lua
	gcraBody string
	//go:embed lua/log.lua
	logLua string
	//go:embed lua/moving.lua
	movingBody string
	//go:embed lua/refund.lua
	refundBody string

	windowScript = preludeLua + windowBody
	gcraScript   = preludeLua + gcraBody
	movingScript = preludeLua + logLua + movingBody
	refundScript = preludeLua + logLua + refundBody
)
