// Who answered a consent request or changed the policy, in words. Answers
// given with the control token could come from any process of the user (an
// agent with a shell included), so they say "as it claims" and stand out.

/** "by the dashboard (session 1a2b3c4d)", "answered from the command line by pid 42 (bash, pid 7), as it claims". */
export function describeAnswerer(by) {
  switch (by.face) {
    case "tray": return `by the tray window (session ${by.session ?? "?"})`;
    case "web": return `by the dashboard (session ${by.session ?? "?"})`;
    case "in_process": return "by Coder Bridge itself";
    default: {
      const where = by.face === "cli" ? "from the command line" : "with the control token";
      const pid = by.pid ? ` by pid ${by.pid}` : "";
      const parent = by.parent ? ` (${by.parent}${by.ppid ? `, pid ${by.ppid}` : ""})` : by.ppid ? ` (parent pid ${by.ppid})` : "";
      return `answered ${where}${pid}${parent}, as it claims`;
    }
  }
}

/** Whether an agent could have given this answer (anything but a dashboard session). */
export function agentReachable(by) {
  return Boolean(by) && by.credential !== "web_session" && by.credential !== "in_process";
}
