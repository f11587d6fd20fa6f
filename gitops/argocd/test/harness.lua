-- Runs one Argo CD health script the way Argo CD does: the resource as the global `obj`, the
-- script's returned table as the health. Usage: lua5.4 harness.lua HEALTH_SCRIPT < object.json
-- Prints the status on the first line and the message on the second.
-- The JSON decoder is the small subset a Kubernetes object needs (no external module, so the
-- test needs only Debian's lua5.4).

local function decode(text)
  local pos = 1

  local function fail(what)
    error(string.format("JSON: %s at byte %d", what, pos))
  end

  local function skip()
    pos = text:find("[^ \t\r\n]", pos) or #text + 1
  end

  local escapes = { ['"'] = '"', ["\\"] = "\\", ["/"] = "/", b = "\b", f = "\f", n = "\n", r = "\r", t = "\t" }

  local value

  local function str()
    local out = {}
    pos = pos + 1
    while true do
      local c = text:sub(pos, pos)
      if c == "" then fail("unterminated string") end
      if c == '"' then pos = pos + 1; return table.concat(out) end
      if c == "\\" then
        local e = text:sub(pos + 1, pos + 1)
        if e == "u" then
          out[#out + 1] = utf8.char(tonumber(text:sub(pos + 2, pos + 5), 16))
          pos = pos + 6
        elseif escapes[e] then
          out[#out + 1] = escapes[e]
          pos = pos + 2
        else
          fail("bad escape")
        end
      else
        out[#out + 1] = c
        pos = pos + 1
      end
    end
  end

  local function sequence(close, item)
    pos = pos + 1
    skip()
    if text:sub(pos, pos) == close then pos = pos + 1; return end
    while true do
      item()
      skip()
      local c = text:sub(pos, pos)
      pos = pos + 1
      if c == close then return end
      if c ~= "," then fail("expected ',' or '" .. close .. "'") end
    end
  end

  value = function()
    skip()
    local c = text:sub(pos, pos)
    if c == "{" then
      local t = {}
      sequence("}", function()
        skip()
        if text:sub(pos, pos) ~= '"' then fail("expected a key") end
        local k = str()
        skip()
        if text:sub(pos, pos) ~= ":" then fail("expected ':'") end
        pos = pos + 1
        t[k] = value()
      end)
      return t
    elseif c == "[" then
      local t = {}
      sequence("]", function() t[#t + 1] = value() end)
      return t
    elseif c == '"' then
      return str()
    end
    for word, v in pairs({ ["true"] = true, ["false"] = false }) do
      if text:sub(pos, pos + #word - 1) == word then pos = pos + #word; return v end
    end
    -- JSON null is absent in Argo CD's table as well (a nil field).
    if text:sub(pos, pos + 3) == "null" then pos = pos + 4; return nil end
    local number = text:match("^-?%d+%.?%d*[eE]?[-+]?%d*", pos)
    if number == nil or number == "" then fail("unexpected character") end
    pos = pos + #number
    return tonumber(number)
  end

  local result = value()
  skip()
  if pos <= #text then fail("trailing text") end
  return result
end

obj = decode(io.read("a"))
local hs = dofile(arg[1])
if type(hs) ~= "table" or hs.status == nil then
  error("the health script returned no hs.status")
end
print(hs.status)
print(hs.message or "")
