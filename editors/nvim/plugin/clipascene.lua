-- Commands of the clipascene plugin (lua/clipascene/init.lua holds the logic).
local function c() return require('clipascene') end
local command = vim.api.nvim_create_user_command
command('ClipasceneSketch', function(o) c().sketch(o.args) end, { nargs = '?', complete = 'file' })
command('ClipasceneStep', function(o) c().step(tonumber(o.args)) end, { nargs = '?' })
command('ClipasceneFidelity', function(o) c().set({ fidelity = tonumber(o.args) }) end, { nargs = 1 })
command('ClipasceneSimplicity', function(o) c().set({ simplicity = tonumber(o.args) }) end, { nargs = 1 })
command('ClipasceneCancel', function() c().cancel() end, {})
command('ClipasceneWrite', function(o) c().write(o.args) end, { nargs = '?', complete = 'file' })
command('ClipasceneOpen', function(o) c().open(o.args) end, { nargs = '?', complete = 'file' })
