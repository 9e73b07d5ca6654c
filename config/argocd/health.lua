-- Argo CD health check of the talon.dev kinds: TalonRule, ClusterTalonRule, TalonAction,
-- ClusterTalonAction and TalonApproval (one script for the five; docs/gitops.md installs it
-- under resource.customizations.health.talon.dev_<Kind> in argocd-cm).
--
-- Rules and actions: the operator's Ready condition, but only once it speaks for the current
-- spec (its observedGeneration, else status.observedGeneration, equals metadata.generation):
--   no status yet, or status of an older generation  -> Progressing
--   Ready=True                                        -> Healthy (a rule with spec.suspend: Suspended)
--   Ready=False                                       -> Degraded, "<reason>: <message>"
--   Ready=Unknown                                     -> Progressing
-- TalonApproval: status.phase
--   Pending -> Suspended (waits for a person), Approved -> Progressing,
--   Executed, Rejected -> Healthy, Expired, Failed -> Degraded.
-- Runs in Argo CD's embedded Lua 5.1 (gopher-lua); tested with Debian's lua5.1
-- (operator/test/argocd-health.test.ts, e2e/gitops.test.ts).
local hs = {}
local status = obj.status or {}
local generation = obj.metadata and obj.metadata.generation

local function condition(type)
  if status.conditions == nil then return nil end
  for _, c in ipairs(status.conditions) do
    if c.type == type then return c end
  end
  return nil
end

local function describe(c)
  local reason = c.reason or ""
  local message = c.message or ""
  if reason ~= "" and message ~= "" then return reason .. ": " .. message end
  if message ~= "" then return message end
  return reason
end

local ready = condition("Ready")
local observed = status.observedGeneration
if ready ~= nil and ready.observedGeneration ~= nil then observed = ready.observedGeneration end

if generation ~= nil and observed ~= nil and observed < generation then
  hs.status = "Progressing"
  hs.message = "Waiting for talon-operator to reconcile generation " .. generation .. " (status is for generation " .. observed .. ")"
  return hs
end

if obj.kind == "TalonApproval" then
  local phase = status.phase
  local detail = ""
  if ready ~= nil and describe(ready) ~= "" then detail = ": " .. describe(ready) end
  if phase == nil or phase == "" then
    hs.status = "Progressing"
    hs.message = "Waiting for talon-operator to record the approval's phase"
  elseif phase == "Pending" then
    hs.status = "Suspended"
    hs.message = "Pending: waiting for a person to approve or reject" .. detail
  elseif phase == "Approved" then
    hs.status = "Progressing"
    hs.message = "Approved: the action is about to run" .. detail
  elseif phase == "Executed" then
    hs.status = "Healthy"
    hs.message = "Executed" .. detail
  elseif phase == "Rejected" then
    hs.status = "Healthy"
    hs.message = "Rejected: the action did not run" .. detail
  elseif phase == "Expired" then
    hs.status = "Degraded"
    hs.message = "Expired without a decision: the action did not run" .. detail
  elseif phase == "Failed" then
    hs.status = "Degraded"
    hs.message = "Failed" .. detail
  else
    hs.status = "Unknown"
    hs.message = "Unknown phase " .. tostring(phase)
  end
  return hs
end

if ready == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for talon-operator to report the Ready condition"
elseif ready.status == "True" then
  local spec = obj.spec or {}
  if spec.suspend == true then
    hs.status = "Suspended"
    hs.message = "Suspended: alerts are matched and counted, no action runs"
  else
    hs.status = "Healthy"
    hs.message = describe(ready)
  end
elseif ready.status == "False" then
  hs.status = "Degraded"
  hs.message = describe(ready)
else
  hs.status = "Progressing"
  hs.message = describe(ready)
end
return hs
