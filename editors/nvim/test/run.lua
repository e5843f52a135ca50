-- Headless test of the plugin against the real server (run by the Swift suite):
--   CLIPASCENE_BIN=… CLIPASCENE_NVIM_IMAGE=photo.jpg CLIPASCENE_NVIM_OUT=dir \
--   nvim --headless -u NONE --cmd 'set rtp^=editors/nvim' -c 'runtime plugin/clipascene.lua' -c 'luafile editors/nvim/test/run.lua'
-- Writes DIR/result.json and quits 0 when everything held, else quits 1 with the failure.
local out = assert(os.getenv('CLIPASCENE_NVIM_OUT'), 'set CLIPASCENE_NVIM_OUT')
local image = assert(os.getenv('CLIPASCENE_NVIM_IMAGE'), 'set CLIPASCENE_NVIM_IMAGE')
local cs = require('clipascene')
cs.setup({ mask = 'none', abstraction = { strokes = 8, iterations = 3 },
           args = { 'serve', '--no-snapshots', '--state-dir', out .. '/state' } })
local report = { checks = {} }

local function finish(ok, why)
  report.ok, report.failure = ok, why
  local f = io.open(out .. '/result.json', 'w')
  f:write(vim.fn.json_encode(report))
  f:close()
  vim.cmd(ok and 'qa!' or 'cquit 1')
end

local function check(name, ok, detail)
  table.insert(report.checks, name)
  if not ok then finish(false, name .. (detail and (': ' .. vim.inspect(detail)) or '')) end
end

local function wait(ms, condition) return vim.wait(ms, condition, 20) end

local function status()
  local answer
  cs.request('getStatus', vim.empty_dict(), function(_, result) answer = result or false end)
  wait(10000, function() return answer ~= nil end)
  return answer
end

-- 1. Sketch a file: loads, applies the configured abstraction, steps to the end with progress.
vim.cmd('ClipasceneSketch ' .. vim.fn.fnameescape(image))
check('the sketch completes', wait(180000, function() return cs.state.last_result and cs.state.last_result.complete end),
      cs.state.last_error)
check('progress arrived (server-initiated, no token passed)', cs.state.progress_count > 0)
report.progress_messages = cs.state.progress_count

-- 2. Write the SVG.
local svg = out .. '/sketch.svg'
vim.cmd('ClipasceneWrite ' .. vim.fn.fnameescape(svg))
check('the SVG was written', wait(20000, function() return vim.fn.filereadable(svg) == 1 end))
local text = table.concat(vim.fn.readfile(svg), '\n')
check('it is our SVG', text:find('<?xml', 1, true) == 1 and text:find('<path', 1, true) ~= nil)

-- 3. Cancel a long step: it stops, and the server is free again.
local done = false
cs.request('setAbstraction', { uri = cs.state.uri, iterations = 5000 }, function() done = true end)
check('longer schedule set', wait(20000, function() return done end))
local before = cs.state.progress_count
vim.cmd('ClipasceneStep 5000')
check('the long step reports progress', wait(60000, function() return cs.state.progress_count > before + 1 end))
vim.cmd('ClipasceneCancel')
check('the plugin marks the step cancelled', cs.state.cancelled and cs.state.running == nil)
local free = false
for _ = 1, 100 do
  local s = status()
  local busy = s and s.documents[1] and s.documents[1].busy
  if s and (busy == nil or busy == vim.NIL) then free = true break end
  vim.wait(100)
end
check('the server stopped stepping', free)
local reached = status().documents[1].step
check('it stopped early', reached < 5000, reached)

-- 4. A fidelity change during a step supersedes it (-32802 reaches the plugin: Neovim drops
--    only -32800), and stepping goes on with the new fidelity.
before = cs.state.progress_count
vim.cmd('ClipasceneStep 5000')
check('stepping again', wait(60000, function() return cs.state.progress_count > before + 1 end))
local running = cs.state.running
vim.cmd('ClipasceneFidelity 2')
check('the running step answered ServerCancelled', wait(30000, function()
  return cs.state.last_error and cs.state.last_error.code == -32802
end), cs.state.last_error)
check('stepping resumed with the new abstraction', wait(30000, function()
  return cs.state.running ~= nil and cs.state.running ~= running
end))
vim.cmd('ClipasceneCancel')
finish(true)
