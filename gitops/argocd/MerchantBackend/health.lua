-- Argo CD health of a MerchantBackend (merchant.rezapp.com/v1alpha1), from the operator's
-- kstatus conditions and status.rollout. Argo CD sets `obj`; the script returns `hs`.
local hs = {}

local function condition(kind)
  if obj.status == nil or obj.status.conditions == nil then
    return nil
  end
  for _, c in ipairs(obj.status.conditions) do
    if c.type == kind then
      return c
    end
  end
  return nil
end

local function is_true(c)
  return c ~= nil and c.status == "True"
end

-- Conditions of an older spec say nothing about the one Argo CD just synced.
local generation = obj.metadata.generation or 0
if obj.status == nil or obj.status.observedGeneration == nil or obj.status.observedGeneration < generation then
  hs.status = "Progressing"
  hs.message = "waiting for the operator to observe generation " .. tostring(generation)
  return hs
end

local stalled = condition("Stalled")
if is_true(stalled) then
  hs.status = "Degraded"
  hs.message = stalled.message
  return hs
end

local rollout = obj.status.rollout
local paused = condition("Paused")
if is_true(paused) then
  hs.status = "Suspended"
  hs.message = paused.message
  return hs
end
if rollout ~= nil and rollout.phase == "Paused" then
  hs.status = "Suspended"
  hs.message = rollout.message or "rollout paused"
  return hs
end

-- After a rollback the stable revision serves (Ready may be True), but the synced spec did not
-- make it: that is what the Application should show.
if rollout ~= nil and (rollout.phase == "RolledBack" or rollout.phase == "Aborted" or rollout.phase == "RollbackBlocked") then
  hs.status = "Degraded"
  hs.message = rollout.message or ("rollout " .. rollout.phase)
  return hs
end

local degraded = condition("Degraded")
if is_true(degraded) then
  hs.status = "Degraded"
  hs.message = degraded.message
  return hs
end

-- Mid-rollout the stable revision may serve on every pod (Ready), but the synced revision is
-- not there yet.
if rollout ~= nil and (rollout.phase == "Progressing" or rollout.phase == "Promoting" or rollout.phase == "Queued") then
  hs.status = "Progressing"
  hs.message = rollout.message or ("rollout " .. rollout.phase)
  return hs
end

local ready = condition("Ready")
if is_true(ready) then
  hs.status = "Healthy"
  hs.message = ready.message
  return hs
end

local progressing = condition("Progressing")
hs.status = "Progressing"
if progressing ~= nil and progressing.message ~= nil and progressing.message ~= "" then
  hs.message = progressing.message
elseif ready ~= nil and ready.message ~= nil and ready.message ~= "" then
  hs.message = ready.message
else
  hs.message = "waiting for the operator"
end
return hs
