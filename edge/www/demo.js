// The demo page: a chat on demo.chat and a shared counter on demo.counter,
// over spoke.js, connected to the page's own origin (through a balancer, to
// whichever edge it picks).
import { Spoke } from "./spoke.js";

const CHAT = "demo.chat";
const COUNTER = "demo.counter";
const KEEP = 100;          // messages kept in the page and in sessionStorage
const BACKLOG = 20;        // history asked for on a first visit
const STORE = "spoke-demo:";

const $ = (id) => document.getElementById(id);

// ---- sessionStorage: survives a reload of this tab, not a new tab.
function load(key, fallback) {
  try {
    const v = sessionStorage.getItem(STORE + key);
    return v === null ? fallback : JSON.parse(v);
  } catch {
    return fallback;
  }
}

function save(key, value) {
  try {
    sessionStorage.setItem(STORE + key, JSON.stringify(value));
  } catch {
    // Storage full or disabled: the page still works, a reload starts afresh.
  }
}

function isPosition(p) {
  return p && Number.isSafeInteger(p.seq) && p.seq >= 0 && typeof p.epoch === "string";
}

// ---- what the page shows
function setText(id, text, attr, value) {
  const el = $(id);
  el.textContent = text;
  if (attr) el.dataset[attr] = value;
}

function showState(state) {
  setText("state", state, "state", state);
}

// kind "reconnect" goes once the connection is open again; "reset" and
// "closed" stay until dismissed.
function notice(text, kind) {
  const el = $("notice");
  el.textContent = text;
  el.dataset.kind = kind;
  el.hidden = false;
}

function clearNotice(kind) {
  const el = $("notice");
  if (el.dataset.kind === kind) el.hidden = true;
}

function sendError(text) {
  const el = $("send-error");
  el.textContent = text || "";
  el.hidden = !text;
}

function time(ms) {
  return new Date(ms).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });
}

// One <li> per message, built with textContent only: message text is
// whatever another client sent.
function messageItem(m) {
  const li = document.createElement("li");
  li.dataset.seq = String(m.seq);
  li.dataset.from = m.from || "";
  const data = m.data && typeof m.data === "object" ? m.data : { text: String(m.data) };
  const name = typeof data.name === "string" && data.name ? data.name : "anonymous";
  li.dataset.name = name;
  if (m.mine) li.classList.add("mine");

  const seq = document.createElement("span");
  seq.className = "seq";
  seq.textContent = "#" + m.seq;
  const who = document.createElement("span");
  who.className = "who";
  who.textContent = name;
  who.title = m.user ? `user ${m.user}, connection ${m.from}` : `connection ${m.from}`;
  if (m.user) {
    const badge = document.createElement("span");
    badge.className = "user";
    badge.textContent = m.user;
    who.append(" ", badge);
  }
  const text = document.createElement("span");
  text.className = "text";
  text.textContent = typeof data.text === "string" ? data.text : JSON.stringify(m.data);
  const at = document.createElement("time");
  at.textContent = m.at ? time(m.at) : "";
  li.append(seq, who, text, at);
  return li;
}

// ---- the chat's messages and position, kept across reloads
let chatLog = load("chat-log", []);
let chatPos = load("chat-pos", null);
if (!Array.isArray(chatLog) || !isPosition(chatPos)) {
  chatLog = [];
  chatPos = null;
}

function renderChat() {
  const list = $("messages");
  list.replaceChildren(...chatLog.map(messageItem));
  $("empty").hidden = chatLog.length > 0;
  list.lastElementChild?.scrollIntoView({ block: "end" });
}

function onChat(m) {
  const mine = m.from === client.welcome?.conn;
  const entry = { seq: m.seq, data: m.data, from: m.from, user: m.user, at: Date.now(), mine };
  chatLog.push(entry);
  if (chatLog.length > KEEP) chatLog.splice(0, chatLog.length - KEEP);
  chatPos = { seq: m.seq, epoch: m.epoch ?? chatPos?.epoch };
  save("chat-log", chatLog);
  save("chat-pos", chatPos);

  const list = $("messages");
  const near = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
  list.append(messageItem(entry));
  while (list.children.length > KEEP) list.firstElementChild.remove();
  $("empty").hidden = true;
  if (near) list.lastElementChild.scrollIntoView({ block: "end" });
}

// A new epoch (the hub lost the topic) or a gap the edge could not fill:
// what the page holds is no longer the topic's start, so it says so.
function forgetChat(reason, pos) {
  chatLog = [];
  chatPos = isPosition(pos) ? pos : null;
  save("chat-log", chatLog);
  save("chat-pos", chatPos);
  renderChat();
  notice(`Chat history was reset: ${reason}`, "reset");
}

// ---- the counter: the last seq of demo.counter
function showCounter(pos) {
  if (!isPosition(pos)) return;
  const el = $("counter");
  const now = Number(el.dataset.seq || -1);
  if (pos.seq === now) return;
  el.textContent = String(pos.seq);
  el.dataset.seq = String(pos.seq);
  el.classList.remove("bump");
  void el.offsetWidth; // restart the animation
  el.classList.add("bump");
}

// ---- the connection
const wsUrl = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws`;
const token = new URLSearchParams(location.search).get("token") || undefined;
const client = new Spoke(wsUrl, { token });
window.spokeDemo = { client }; // for the console (and the browser tests)

let reconnects = 0;
client.on("state", showState);
client.on("open", (w) => {
  setText("edge", w.edge, "edge", w.edge);
  setText("region", w.region);
  setText("conn", w.conn);
  setText("url", client.url || wsUrl);
  clearNotice("reconnect");
});
client.on("reconnecting", ({ code, reason, delayMs }) => {
  reconnects += 1;
  setText("reconnects", String(reconnects), "count", String(reconnects));
  setText("last-close", String(code ?? "–"), "code", String(code ?? ""));
  $("last-close").title = reason || "";
  setText("edge", "–", "edge", "");
  notice(`Connection closed (${code}${reason ? ": " + reason : ""}); reconnecting in ${Math.round(delayMs)} ms.`, "reconnect");
});
client.on("closed", ({ code, reason }) => {
  setText("last-close", String(code ?? "–"), "code", String(code ?? ""));
  $("last-close").title = reason || "";
  notice(`Closed (${code}${reason ? ": " + reason : ""}). Reload the page to connect again.`, "closed");
});
// While a first visit asks for its backlog, a resume that fails (the
// history is gone) is no news: the page had nothing to lose.
let backlog = false;
client.on("reset", ({ topic, seq, epoch, reason }) => {
  if (topic === CHAT && backlog) return;
  if (topic === CHAT) forgetChat(reason, { seq, epoch });
  if (topic === COUNTER) {
    showCounter({ seq, epoch });
    notice(`The counter was reset: ${reason}`, "reset");
  }
});
client.on("error", (e) => console.warn("spoke:", e));

// ---- subscriptions
// A reload resumes from the position kept in sessionStorage. A first visit
// has no position (a `since` needs the topic's epoch), so it subscribes to
// learn it and, if the topic has messages, subscribes again from a little
// before its end; the first subscription's messages are dropped, the replay
// of the second one brings them.
async function startChat() {
  renderChat();
  const resuming = chatPos !== null;
  let probing = !resuming;
  let sub = client.subscribe(CHAT, (m) => probing || onChat(m), resuming ? { since: chatPos } : {});
  const ack = await sub.ready;
  const pos = sub.position ?? ack;
  if (resuming) {
    if (ack && ack.recovered === false) forgetChat(ack.reason || "the edge could not resume", pos);
    return;
  }
  if (isPosition(pos) && pos.seq > 0) {
    sub.unsubscribe();
    backlog = true;
    sub = client.subscribe(CHAT, onChat, { since: { seq: Math.max(0, pos.seq - BACKLOG), epoch: pos.epoch } });
    try {
      await sub.ready;
    } finally {
      backlog = false;
    }
  } else {
    probing = false;
  }
  if (!chatPos && isPosition(sub.position)) {
    chatPos = sub.position;
    save("chat-pos", chatPos);
  }
}

async function startCounter() {
  const sub = client.subscribe(COUNTER, (m) => showCounter({ seq: m.seq, epoch: m.epoch }));
  const ack = await sub.ready;
  showCounter(sub.position ?? ack);
}

// ---- the controls
const nameField = $("name");
nameField.value = load("name", "") || `guest-${Math.floor(Math.random() * 9000 + 1000)}`;
nameField.addEventListener("change", () => save("name", nameField.value.trim()));
save("name", nameField.value);

$("chat-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const field = $("text");
  const text = field.value.trim();
  const name = nameField.value.trim() || "anonymous";
  if (!text) return;
  field.value = "";
  sendError("");
  try {
    await client.publish(CHAT, { name, text });
  } catch (e) {
    field.value = field.value || text;
    sendError(`Not sent (${e.code ?? "?"}): ${e.reason ?? e.message}`);
  }
});

$("plus-one").addEventListener("click", async () => {
  sendError("");
  try {
    showCounter(await client.publish(COUNTER, { by: nameField.value.trim() || "anonymous" }));
  } catch (e) {
    sendError(`+1 not counted (${e.code ?? "?"}): ${e.reason ?? e.message}`);
  }
});

showState(client.state);
startChat().catch((e) => notice(`Could not subscribe to ${CHAT}: ${e.reason ?? e.message}`, "error"));
startCounter().catch((e) => notice(`Could not subscribe to ${COUNTER}: ${e.reason ?? e.message}`, "error"));
