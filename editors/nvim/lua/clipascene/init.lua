-- clipascene for Neovim (0.7.2 and newer): sketch an image file with `clipascene serve`,
-- watch the progress in the statusline, change fidelity and simplicity, cancel, write the SVG.
-- It speaks to the server through Neovim's own LSP RPC client (vim.lsp.rpc), as a language
-- server plugin does. See editors/nvim/README.md.
local M = {}

M.config = {
  cmd = os.getenv('CLIPASCENE_BIN') or 'clipascene',
  args = { 'serve' },
  -- Settings sent with setAbstraction after each load (strokes, iterations, fidelity, ...).
  abstraction = {},
  -- loadImage options: mask 'auto' | 'none' | a mask image's path.
  mask = 'auto',
  -- Steps per :ClipasceneSketch / :ClipasceneStep without a count (the whole schedule).
  steps = 100000,
}

-- What the plugin knows; read-only for users (tests and statuslines look at it).
M.state = {
  rpc = nil, ready = false, waiting = {},
  uri = nil, path = nil,
  running = nil,          -- the id of the step request in flight
  progress = '',          -- the latest progress message
  progress_count = 0,     -- progress notifications received
  last_result = nil,      -- the latest step result (also the state a cancelled step reached)
  last_error = nil,       -- the latest error answer {code, message, data}
  cancelled = false,
}

local function say(message, level)
  vim.notify('clipascene: ' .. message, level or vim.log.levels.INFO)
end

--- The statusline part: `set statusline+=%{v:lua.require'clipascene'.statusline()}`
function M.statusline()
  return M.state.progress
end

local function on_notification(method, params)
  if method == '$/progress' and params and params.value then
    local v = params.value
    local text = v.message or v.title or ''
    if v.percentage then text = string.format('%s (%d%%)', text, v.percentage) end
    M.state.progress = v.kind == 'end' and ('clipascene: ' .. (v.message or 'done')) or ('clipascene: ' .. text)
    M.state.progress_count = M.state.progress_count + 1
    pcall(vim.cmd, 'redrawstatus')
  elseif method == 'window/showMessage' and params then
    say(params.message or '', params.type == 1 and vim.log.levels.ERROR or vim.log.levels.WARN)
  end
end

local function on_server_request(method, _)
  -- Server-initiated progress (we declare window.workDoneProgress): accept every token.
  if method == 'window/workDoneProgress/create' then return vim.NIL, nil end
  return nil, vim.lsp.rpc.rpc_response_error(vim.lsp.protocol.ErrorCodes.MethodNotFound)
end

local function start()
  if M.state.rpc then return end
  M.state.rpc = vim.lsp.rpc.start(M.config.cmd, M.config.args, {
    notification = on_notification,
    server_request = on_server_request,
    on_exit = function(code, _)
      M.state.rpc, M.state.ready, M.state.running = nil, false, nil
      if code ~= 0 then vim.schedule(function() say('the server exited with ' .. code, vim.log.levels.WARN) end) end
    end,
  })
  M.state.rpc.request('initialize', {
    processId = vim.fn.getpid(),
    capabilities = { window = { workDoneProgress = true } },
    clientInfo = { name = 'clipascene.nvim' },
  }, function(err, _)
    if err then return say('initialize failed: ' .. vim.inspect(err), vim.log.levels.ERROR) end
    M.state.rpc.notify('initialized', {})
    M.state.ready = true
    local waiting = M.state.waiting
    M.state.waiting = {}
    for _, send in ipairs(waiting) do send() end
  end)
end

--- Sends a request once the server is initialized; `callback(err, result)` runs in the main loop.
function M.request(method, params, callback)
  start()
  local send = function()
    local ok, id = M.state.rpc.request(method, params, function(err, result)
      if err then M.state.last_error = err end
      if callback then callback(err, result) end
    end)
    if method == 'step' and ok then M.state.running = id end
  end
  if M.state.ready then send() else table.insert(M.state.waiting, send) end
end

local function need_document()
  if not M.state.uri then say('no image yet: run :ClipasceneSketch [file] first', vim.log.levels.WARN) return false end
  return true
end

--- Runs `count` steps (the rest of the schedule by default); the statusline shows progress.
function M.step(count)
  if not need_document() then return end
  M.state.cancelled = false
  M.request('step', { uri = M.state.uri, count = count or M.config.steps }, function(err, result)
    M.state.running = nil
    if err then
      -- -32802: the server stopped it (a new abstraction, the document closed); the state reached is in data.
      if err.data then M.state.last_result = err.data end
      if err.code ~= -32802 then say('step failed: ' .. (err.message or vim.inspect(err)), vim.log.levels.ERROR) end
      return
    end
    M.state.last_result = result
    say(string.format('step %d/%d%s', result.step, result.totalSteps, result.complete and ' (complete)' or ''))
  end)
end

--- Loads an image (a path; default: the file under the cursor, else the current buffer's file) and sketches it.
function M.sketch(path)
  if not path or path == '' then
    local under = vim.fn.expand('<cfile>')
    path = (under ~= '' and vim.fn.filereadable(under) == 1) and under or vim.fn.expand('%')
  end
  path = vim.fn.fnamemodify(path, ':p')
  if vim.fn.filereadable(path) ~= 1 then return say('cannot read ' .. path, vim.log.levels.ERROR) end
  M.state.path, M.state.uri = path, vim.uri_from_fname(path)
  M.request('loadImage', { uri = M.state.uri, path = path, options = { mask = M.config.mask } }, function(err, info)
    if err then return say('loadImage failed: ' .. (err.message or ''), vim.log.levels.ERROR) end
    say(string.format('%s: %d×%d, %d steps', vim.fn.fnamemodify(path, ':t'), info.width, info.height, info.totalSteps))
    if next(M.config.abstraction) then M.set(M.config.abstraction, false) end
    M.step()
  end)
end

--- Changes the abstraction; a running step is superseded and stepping goes on with the new settings.
function M.set(settings, resume)
  if not need_document() then return end
  local was_running = M.state.running ~= nil
  local params = vim.tbl_extend('force', { uri = M.state.uri }, settings)
  M.request('setAbstraction', params, function(err, result)
    if err then return say('setAbstraction: ' .. (err.message or ''), vim.log.levels.ERROR) end
    say(string.format('fidelity %d, simplicity %d (%s)', result.abstraction.fidelity, result.abstraction.simplicity, result.change))
    if resume ~= false and was_running then M.step() end
  end)
end

--- Stops the running step (at the end of its current optimisation step).
function M.cancel()
  if not M.state.running then return say('nothing is running') end
  M.state.cancelled = true
  -- Neovim drops the -32800 answer to a cancelled request, so the plugin marks it done itself.
  M.state.rpc.notify('$/cancelRequest', { id = M.state.running })
  M.state.running = nil
  M.state.progress = 'clipascene: cancelled'
end

--- Writes the current drawing as SVG (default: the image's path with .svg); `callback(path)` when written.
function M.write(path, callback)
  if not need_document() then return end
  path = (path and path ~= '') and vim.fn.fnamemodify(path, ':p') or (vim.fn.fnamemodify(M.state.path, ':r') .. '.svg')
  M.request('getSVG', { uri = M.state.uri }, function(err, result)
    if err then return say('getSVG: ' .. (err.message or ''), vim.log.levels.ERROR) end
    local file = io.open(path, 'w')
    if not file then return say('cannot write ' .. path, vim.log.levels.ERROR) end
    file:write(result.svg)
    file:close()
    say(string.format('wrote %s (step %d)', path, result.step))
    if callback then callback(path) end
  end)
end

--- Writes the SVG, then opens it in a new window.
function M.open(path)
  M.write(path, function(written) vim.cmd('split ' .. vim.fn.fnameescape(written)) end)
end

function M.setup(opts)
  M.config = vim.tbl_deep_extend('force', M.config, opts or {})
end

return M
