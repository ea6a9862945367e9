package redisstore

import _ "embed" // the scripts

// The Lua scripts live in lua/*.lua. lua/prelude.lua holds what every
// script shares (exact wide products, the checks on foreign data, TTLs)
// and documents the three functions by which each strategy decides one
// request: window.lua (sliding and fixed window), gcra.lua and moving.lua
// (with lua/log.lua, the helpers of its log, before it). A driver applies
// them: lua/single.lua to one decision, with the argument layout of the
// prelude (lua/args.lua reads it), and lua/batch.lua to several in one
// call, independent or all or nothing. So each strategy's arithmetic is
// written once, whichever script runs it.
//
// A Store runs one batch script for the batches of coalesced AllowN and
// Peek decisions and for AllowAll (windowBatch, gcraBatch, movingBatch),
// the single script for a lone decision and for every decision through
// an Evaler (windowScript, gcraScript, movingScript), and refundScript
// for Refund.
var (
	//go:embed lua/prelude.lua
	preludeLua string
	//go:embed lua/args.lua
	argsLua string
	//go:embed lua/single.lua
	singleLua string
	//go:embed lua/batch.lua
	batchLua string
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

	windowScript = preludeLua + windowBody + argsLua + singleLua
	gcraScript   = preludeLua + gcraBody + argsLua + singleLua
	movingScript = preludeLua + logLua + movingBody + argsLua + singleLua
	refundScript = preludeLua + logLua + argsLua + refundBody

	windowBatch = preludeLua + windowBody + batchLua
	gcraBatch   = preludeLua + gcraBody + batchLua
	movingBatch = preludeLua + logLua + movingBody + batchLua
)
