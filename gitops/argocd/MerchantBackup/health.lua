-- Argo CD health of a MerchantBackup (merchant.rezapp.com/v1alpha1): one run of a Job, judged by
-- status.phase (Pending, Running, Succeeded, Failed). Argo CD sets `obj`; the script returns `hs`.
local hs = {}

local generation = obj.metadata.generation or 0
if obj.status == nil or obj.status.phase == nil or (obj.status.observedGeneration or 0) < generation then
  hs.status = "Progressing"
  hs.message = "waiting for the operator to observe generation " .. tostring(generation)
  return hs
end

local phase = obj.status.phase
if phase == "Succeeded" then
  hs.status = "Healthy"
  hs.message = "backup written to " .. (obj.status.location or "its destination")
elseif phase == "Failed" then
  hs.status = "Degraded"
  hs.message = obj.status.error or "backup failed"
else
  -- Pending or Running: the message says what the run waits for.
  hs.status = "Progressing"
  hs.message = obj.status.message or phase
end
return hs
