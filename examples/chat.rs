//! A multi-room chat service, and clients that check it, in one process.
//!
//! Members connect over TCP and speak a line protocol:
//!
//! | a member sends | what happens |
//! |---|---|
//! | `NAME alice` | takes a name (a new member is `guest-N`) |
//! | `JOIN lobby` | leaves its room, if any, and joins `lobby` (made on first join) |
//! | `SAY hello` | every member of the room, the sender too, gets `<alice> hello` |
//! | `LEAVE` | leaves the room |
//! | `QUIT` | leaves the room, gets `* bye`, and is disconnected |
//!
//! Notices start with `* ` (`* bob joined lobby`), refusals with `ERR `.
//!
//! The same loop serves HTTP:
//!
//! | request | answer |
//! |---|---|
//! | `GET /rooms` | a line per room: `lobby members=2 watchers=1 messages=93` |
//! | `GET /rooms/:room/history?since=N` | the kept messages after number N, `N <name> text` a line |
//! | `POST /rooms/:room/messages` | says the body's one line in the room as `http`; 201 and its number |
//! | `GET /rooms/:room/stream` | each new message as it is said, streamed (chunked) until the client leaves |
//!
//! Everything lives in one `Rc<RefCell<Chat>>` on one loop. Each member has
//! an outbox, a bounded `Channel` that the member's o-routine writes to its
//! socket; a room queues a message in every member's outbox without waiting.
//! A member whose outbox is full has stopped reading (its socket's buffers
//! filled up first) and is **dropped**: disconnected, the room told
//! `* slow left firehose (too slow)`. Dropping messages instead would keep
//! it connected with holes in its conversation it cannot see; this way every
//! member gets every message of its room in order, or is disconnected, and
//! the room never waits for anyone. A stream watcher that falls behind is
//! cut off the same way: its response ends without the last chunk, so its
//! client knows the body is incomplete.
//!
//! The checking o-routine plays members over TCP and watchers and posters
//! over HTTP, then stops the servers gracefully; the program exits with 0
//! when every check passed.
//!
//! ```sh
//! cargo run --example chat
//! ```
//!
//! One `WARN ... response body stream failed` line is expected: it is the
//! server closing the response of a watcher that was cut off on purpose.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Duration;

use monocle::experimental::{first_of2, Channel, RecvStream, Winner};
use monocle::futures_lite::io::BufReader;
use monocle::prelude::*;
use monocle::stack::network::http::{
    BodyFraming, HttpClient, HttpError, HttpHeaders, HttpRequest, HttpResponse, HttpServer,
    ResponseReader, ServerConfig, Stream,
};
use monocle::stack::network::{add_service, connect, Connection, Service, ServiceHandle};
use monocle::util::{sleep, timeout};
use monocle::Callback;

/// How long a write to a member may wait for it to read.
const STALLED_WRITE: Duration = Duration::from_secs(30);

/// Lines a member may have waiting before it counts as too slow.
const OUTBOX: usize = 64;
/// Messages a stream watcher may have waiting before it is cut off.
const WATCH_BUFFER: usize = 64;
/// Messages each room keeps for `history`.
const HISTORY: usize = 100;
/// The longest line a member may send.
const MAX_LINE: usize = 64 << 10;
/// How long any one check waits before it fails.
const WAIT: Duration = Duration::from_secs(5);

/// The chat, shared by the member o-routines and the HTTP handlers of the loop.
type Shared = Rc<RefCell<Chat>>;

#[derive(Default)]
struct Chat {
    members: HashMap<u64, Member>,
    rooms: BTreeMap<String, Room>,
    next_id: u64,
    /// Set by [`Chat::close`]: resolved when the last member has gone.
    closing: Option<Callback<()>>,
}

struct Member {
    name: String,
    room: Option<String>,
    /// Lines for the member, each ending in `\n`, written by its o-routine.
    outbox: Channel<Rc<str>>,
    /// Resolved when the member is dropped for being too slow: its
    /// o-routine stops at once, even while a write is waiting.
    cut: Callback<()>,
}

#[derive(Default)]
struct Room {
    members: BTreeSet<u64>,
    watchers: BTreeMap<u64, Watcher>,
    history: VecDeque<Message>,
    /// The number of the last message said here.
    last: u64,
}

/// The room's side of a stream watcher (see [`Watch`]).
struct Watcher {
    lines: Channel<Vec<u8>>,
    cut: Rc<Cell<bool>>,
}

struct Message {
    number: u64,
    from: String,
    text: String,
}

impl Message {
    /// The message as `history` and `stream` send it.
    fn line(&self) -> String {
        format!("{} <{}> {}\n", self.number, self.from, self.text)
    }
}

/// A name for a member or a room: 1 to 32 letters, digits, `-` or `_`.
fn valid_name(name: &str) -> bool {
    (1..=32).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

impl Chat {
    /// Registers a new member; returns its id, outbox and cut-off signal.
    fn connect(&mut self) -> (u64, Channel<Rc<str>>, Callback<()>) {
        self.next_id += 1;
        let id = self.next_id;
        let member = Member {
            name: format!("guest-{id}"),
            room: None,
            outbox: Channel::new(OUTBOX),
            cut: Callback::new(),
        };
        let handles = (id, member.outbox.clone(), member.cut.clone());
        let hello = format!("* hello {}", member.name);
        self.members.insert(id, member);
        self.tell(id, &hello);
        handles
    }

    /// Forgets member `id`, whose o-routine ended, telling its room.
    fn disconnect(&mut self, id: u64) {
        self.leave(id, " (disconnected)");
        self.members.remove(&id);
        if self.members.is_empty() {
            if let Some(gone) = &self.closing {
                let _ = gone.resolve(());
            }
        }
    }

    /// Queues `line` for member `id`.
    fn tell(&mut self, id: u64, line: &str) {
        self.deliver(&[id], line);
    }

    /// Queues `line` for every member of `room`.
    fn broadcast(&mut self, room: &str, line: &str) {
        let ids: Vec<u64> = match self.rooms.get(room) {
            Some(room) => room.members.iter().copied().collect(),
            None => return,
        };
        self.deliver(&ids, line);
    }

    /// Queues `line` for the members `ids` without waiting, then drops those
    /// whose outbox was full.
    fn deliver(&mut self, ids: &[u64], line: &str) {
        let line: Rc<str> = format!("{line}\n").into();
        let slow: Vec<u64> = ids
            .iter()
            .copied()
            .filter(|id| {
                self.members.get(id).is_some_and(|m| {
                    // A closed outbox (a member on its way out) is no failure.
                    m.outbox.try_send(line.clone()).is_err_and(|e| e.is_full())
                })
            })
            .collect();
        for id in slow {
            self.cut(id);
        }
    }

    /// Drops a member that stopped reading: its o-routine stops, its room is told.
    fn cut(&mut self, id: u64) {
        if let Some(member) = self.members.get(&id) {
            let _ = member.cut.resolve(());
            member.outbox.close();
            self.leave(id, " (too slow)");
        }
    }

    /// Takes member `id` out of its room and tells the others why (`why` is
    /// empty for a member that asked); returns the notice.
    fn leave(&mut self, id: u64, why: &str) -> Option<String> {
        let member = self.members.get_mut(&id)?;
        let room = member.room.take()?;
        let notice = format!("* {} left {room}{why}", member.name);
        if let Some(r) = self.rooms.get_mut(&room) {
            r.members.remove(&id);
        }
        self.broadcast(&room, &notice);
        Some(notice)
    }

    fn join(&mut self, id: u64, room: &str) {
        if let Some(notice) = self.leave(id, "") {
            self.tell(id, &notice);
        }
        let Some(member) = self.members.get_mut(&id) else {
            return;
        };
        member.room = Some(room.to_owned());
        let notice = format!("* {} joined {room}", member.name);
        self.rooms
            .entry(room.to_owned())
            .or_default()
            .members
            .insert(id);
        self.broadcast(room, &notice);
    }

    /// Says `text` in `room` as `from`: kept in the history, queued for every
    /// member and every watcher. Returns the message's number, or `None` if
    /// there is no such room.
    fn say(&mut self, room: &str, from: &str, text: &str) -> Option<u64> {
        let r = self.rooms.get_mut(room)?;
        r.last += 1;
        let message = Message {
            number: r.last,
            from: from.to_owned(),
            text: text.to_owned(),
        };
        let line = message.line();
        r.watchers
            .retain(|_, w| match w.lines.try_send(line.clone().into_bytes()) {
                Ok(()) => true,
                Err(e) if e.is_full() => {
                    w.cut.set(true);
                    w.lines.close(); // wakes the stream, which then fails
                    false
                }
                Err(_) => false,
            });
        if r.history.len() == HISTORY {
            r.history.pop_front();
        }
        r.history.push_back(message);
        let number = r.last;
        self.broadcast(room, &format!("<{from}> {text}"));
        Some(number)
    }

    /// Carries out a member's command; `false` when the member quit.
    fn command(&mut self, id: u64, line: &str) -> bool {
        let Some(member) = self.members.get(&id) else {
            return false;
        };
        let (name, room) = (member.name.clone(), member.room.clone());
        let (verb, arg) = line.split_once(' ').unwrap_or((line, ""));
        match (verb, room) {
            ("NAME", _) if valid_name(arg) => {
                if let Some(member) = self.members.get_mut(&id) {
                    member.name = arg.to_owned();
                }
                self.tell(id, &format!("* you are {arg}"));
            }
            ("JOIN", _) if valid_name(arg) => self.join(id, arg),
            ("NAME" | "JOIN", _) => {
                self.tell(id, "ERR a name is 1 to 32 letters, digits, - or _");
            }
            ("SAY", Some(room)) if !arg.is_empty() => {
                self.say(&room, &name, arg);
            }
            ("SAY", Some(_)) => self.tell(id, "ERR say something"),
            ("SAY", None) => self.tell(id, "ERR join a room first"),
            ("LEAVE", _) => match self.leave(id, "") {
                Some(notice) => self.tell(id, &notice),
                None => self.tell(id, "ERR not in a room"),
            },
            ("QUIT", _) => {
                if let Some(notice) = self.leave(id, "") {
                    self.tell(id, &notice);
                }
                self.tell(id, "* bye");
                return false;
            }
            ("", _) => {}
            (verb, _) => self.tell(
                id,
                &format!("ERR unknown command {verb:?}; try NAME, JOIN, SAY, LEAVE or QUIT"),
            ),
        }
        true
    }

    /// Closes the chat: members are told and disconnected once their outbox
    /// is written, watchers' streams end. The callback resolves when the
    /// last member has gone.
    fn close(&mut self) -> Callback<()> {
        let gone = Callback::new();
        self.closing = Some(gone.clone());
        let ids: Vec<u64> = self.members.keys().copied().collect();
        self.deliver(&ids, "* server shutting down");
        for member in self.members.values() {
            member.outbox.close();
        }
        for room in self.rooms.values_mut() {
            for (_, watcher) in std::mem::take(&mut room.watchers) {
                watcher.lines.close();
            }
        }
        if self.members.is_empty() {
            let _ = gone.resolve(());
        }
        gone
    }

    /// Drops every member still connected (whose outbox did not drain).
    fn cut_all(&mut self) {
        let ids: Vec<u64> = self.members.keys().copied().collect();
        for id in ids {
            self.cut(id);
        }
    }
}

/// Disconnects a member from the chat however its o-routine ends.
struct Departure(Shared, u64);

impl Drop for Departure {
    fn drop(&mut self) {
        self.0.borrow_mut().disconnect(self.1);
    }
}

/// A member's o-routine: reads its commands and writes its outbox, whichever
/// is ready first, until it quits, goes away or is dropped.
async fn member(chat: Shared, mut conn: Connection) {
    // A member may stay quiet for as long as it likes, but a write it does
    // not take in (in a room too quiet to fill its outbox) is bounded too.
    conn.set_max_buffer(MAX_LINE)
        .set_read_timeout(None)
        .set_write_timeout(Some(STALLED_WRITE));
    let (id, outbox, cut) = chat.borrow_mut().connect();
    let _departure = Departure(chat.clone(), id);
    let mut reading = true;
    loop {
        // Racing a read against the outbox drops the losing read part way,
        // which loses nothing: the bytes it read stay in the connection's
        // buffer for the next one.
        let next = if reading {
            first_of2(outbox.recv(), conn.readline()).await
        } else {
            Winner::First(outbox.recv().await)
        };
        match next {
            Winner::Second(Ok(line)) => {
                let line = String::from_utf8_lossy(line).trim_end().to_owned();
                if chat.borrow().closing.is_some() {
                    continue;
                }
                if !chat.borrow_mut().command(id, &line) {
                    // QUIT: write what is queued, `* bye` last, then stop.
                    reading = false;
                    outbox.close();
                }
            }
            // The peer closed or reset the connection, or sent a line
            // longer than MAX_LINE.
            Winner::Second(Err(_)) => return,
            // Closed and drained (QUIT, shutdown), or closed by a cut.
            Winner::First(Err(_)) => return,
            Winner::First(Ok(line)) => {
                if cut.is_resolved() {
                    return;
                }
                conn.buffer(line.as_bytes());
                while let Ok(more) = outbox.try_recv() {
                    conn.buffer(more.as_bytes());
                }
                // A member that stopped reading blocks this flush once the
                // socket's buffers are full; being cut off ends the wait, and
                // so does the write timeout in a room too quiet for that.
                match first_of2(conn.flush(), cut.clone()).await {
                    Winner::First(Ok(())) => {}
                    _ => return,
                }
            }
        }
    }
}

/// The body of a `stream` response: the watcher's lines. The server drops it
/// when the response ends (its client left, or the server stopped), which
/// takes the watcher out of its room.
struct Watch {
    chat: Shared,
    room: String,
    id: u64,
    lines: RecvStream<Vec<u8>>,
    cut: Rc<Cell<bool>>,
}

impl Watch {
    /// Starts watching `room`; `None` if there is no such room.
    fn new(chat: &Shared, room: &str) -> Option<Watch> {
        let mut state = chat.borrow_mut();
        state.next_id += 1;
        let id = state.next_id;
        let lines = Channel::new(WATCH_BUFFER);
        let cut = Rc::new(Cell::new(false));
        let watcher = Watcher {
            lines: lines.clone(),
            cut: cut.clone(),
        };
        state.rooms.get_mut(room)?.watchers.insert(id, watcher);
        Some(Watch {
            chat: chat.clone(),
            room: room.to_owned(),
            id,
            lines: lines.stream(),
            cut,
        })
    }
}

impl Stream for Watch {
    type Item = io::Result<Vec<u8>>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.cut.get() {
            // An error ends the response without its last chunk: the
            // client can tell it missed messages.
            return Poll::Ready(Some(Err(io::Error::other("watcher too slow, cut off"))));
        }
        Pin::new(&mut self.lines)
            .poll_next(cx)
            .map(|line| line.map(Ok))
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        let mut chat = self.chat.borrow_mut();
        if let Some(room) = chat.rooms.get_mut(&self.room) {
            room.watchers.remove(&self.id);
        }
    }
}

/// The `:room` of a route.
fn room_of(req: &HttpRequest) -> &str {
    req.param("room").unwrap_or_default()
}

/// The HTTP side: rooms, history, posting, and the stream.
fn http_server(chat: Shared) -> HttpServer {
    let mut server = HttpServer::new(0, |req: HttpRequest| async move {
        (
            404,
            format!("no route for {} {}\n", req.method(), req.path()),
        )
    });
    server.bind_addr([127, 0, 0, 1]);
    let mut config = ServerConfig::new();
    config.drain_timeout(Duration::from_secs(1));
    server.set_config(config);

    server.get("/rooms", {
        let chat = chat.clone();
        async move |_req: HttpRequest| {
            let chat = chat.borrow();
            let lines = chat.rooms.iter().map(|(name, room)| {
                format!(
                    "{name} members={} watchers={} messages={}\n",
                    room.members.len(),
                    room.watchers.len(),
                    room.last
                )
            });
            lines.collect::<String>()
        }
    });

    server.get("/rooms/:room/history", {
        let chat = chat.clone();
        async move |req: HttpRequest| {
            let since: u64 = match req.query_arg("since") {
                None => 0,
                Some(n) => n
                    .parse()
                    .map_err(|_| HttpError::bad_request("since must be a message number\n"))?,
            };
            let chat = chat.borrow();
            let room = chat
                .rooms
                .get(room_of(&req))
                .ok_or(HttpError::not_found())?;
            let body: String = room
                .history
                .iter()
                .filter(|m| m.number > since)
                .map(Message::line)
                .collect();
            let headers = HttpHeaders::from([("X-Last-Message", room.last)]);
            Ok::<_, HttpError>((200, headers, body))
        }
    });

    server.post("/rooms/:room/messages", {
        let chat = chat.clone();
        async move |req: HttpRequest| {
            let text = std::str::from_utf8(req.body())
                .map_err(|_| HttpError::bad_request("a message is UTF-8 text\n"))?;
            let text = text.strip_suffix('\n').unwrap_or(text);
            if text.is_empty() || text.contains(['\r', '\n']) {
                return Err(HttpError::bad_request("a message is one line of text\n"));
            }
            let number = chat
                .borrow_mut()
                .say(room_of(&req), "http", text)
                .ok_or(HttpError::not_found())?;
            Ok((201, format!("{number}\n")))
        }
    });

    server.get("/rooms/:room/stream", {
        let chat = chat.clone();
        async move |req: HttpRequest| {
            let watch = Watch::new(&chat, room_of(&req)).ok_or(HttpError::not_found())?;
            Ok::<_, HttpError>(
                HttpResponse::new(200)
                    .with_header("Content-Type", "text/plain; charset=utf-8")
                    .with_stream(watch),
            )
        }
    });

    server
}

/// What the checks stop at the end.
struct Servers {
    chat: Shared,
    tcp: ServiceHandle,
    http: HttpServer,
}

impl Servers {
    /// Stops gracefully: no new members, every member told and disconnected
    /// once its outbox is written (or dropped if it does not drain in time),
    /// every stream ended, then the HTTP server drained.
    async fn stop(&self) {
        self.tcp.stop();
        let gone = self.chat.borrow_mut().close();
        if timeout(WAIT, gone.clone()).await.is_err() {
            self.chat.borrow_mut().cut_all();
            let _ = timeout(WAIT, gone).await;
        }
        self.http.stop().await;
        self.tcp.stopped().await;
    }
}

// ---------------------------------------------------------------------------
// The checks, playing clients.

/// A member, as the checks drive it over TCP.
struct Client {
    conn: Connection,
    name: String,
}

impl Client {
    /// Connects and takes `name`.
    async fn connect(port: u16, name: &str) -> io::Result<Client> {
        let conn = connect("127.0.0.1", port).await?;
        let mut client = Client {
            conn,
            name: name.to_owned(),
        };
        let hello = client.line().await?;
        assert!(hello.starts_with("* hello guest-"), "{hello}");
        client.send(&format!("NAME {name}")).await?;
        client.expect(&format!("* you are {name}")).await?;
        Ok(client)
    }

    async fn send(&mut self, line: &str) -> io::Result<()> {
        self.conn.write(format!("{line}\n").as_bytes()).await?;
        Ok(())
    }

    /// The next line, without its `\n`.
    async fn line(&mut self) -> io::Result<String> {
        let line = timeout(WAIT, self.conn.readline()).await??;
        Ok(String::from_utf8_lossy(line).trim_end().to_owned())
    }

    async fn expect(&mut self, want: &str) -> io::Result<()> {
        let got = self.line().await?;
        assert_eq!(got, want, "what {} got", self.name);
        Ok(())
    }

    async fn join(&mut self, room: &str) -> io::Result<()> {
        self.send(&format!("JOIN {room}")).await?;
        self.expect(&format!("* {} joined {room}", self.name)).await
    }

    /// The next `n` lines, all of them messages.
    async fn messages(&mut self, n: usize) -> io::Result<Vec<String>> {
        let mut got = Vec::with_capacity(n);
        for _ in 0..n {
            let line = self.line().await?;
            assert!(line.starts_with('<'), "{} got {line:?}", self.name);
            got.push(line);
        }
        Ok(got)
    }

    /// Every line until the server closes the connection.
    async fn until_closed(&mut self) -> io::Result<Vec<String>> {
        let mut got = Vec::new();
        loop {
            match timeout(WAIT, self.conn.readline()).await? {
                Ok(line) => got.push(String::from_utf8_lossy(line).trim_end().to_owned()),
                Err(_closed) => return Ok(got),
            }
        }
    }
}

/// A watcher reading `GET /rooms/:room/stream` as it arrives, through
/// `HttpClient::get_reader`.
struct Feed<'a> {
    body: BufReader<ResponseReader<'a>>,
}

impl<'a> Feed<'a> {
    async fn open(client: &'a mut HttpClient, port: u16, room: &str) -> io::Result<Feed<'a>> {
        client.set_timeout(Some(WAIT));
        let url = format!("http://127.0.0.1:{port}/rooms/{room}/stream");
        let reader = client.get_reader(&url).await?;
        assert_eq!(reader.code(), 200);
        assert_eq!(reader.head().framing(), BodyFraming::Chunked);
        Ok(Feed {
            body: BufReader::new(reader),
        })
    }

    /// The next line of the body, without its `\n`.
    async fn line(&mut self) -> io::Result<String> {
        let mut line = String::new();
        self.body.read_line(&mut line).await?;
        Ok(line.trim_end().to_owned())
    }

    /// The rest of the body's lines, until the server closes the connection,
    /// and whether the body was complete (its last chunk came: a body cut
    /// short is an error to the reader).
    async fn until_closed(&mut self) -> io::Result<(Vec<String>, bool)> {
        let mut rest = Vec::new();
        let complete = self.body.read_to_end(&mut rest).await.is_ok();
        let text = String::from_utf8_lossy(&rest);
        Ok((text.lines().map(str::to_owned).collect(), complete))
    }
}

/// `GET path` on the checks' HTTP client; the body, after checking for 200.
async fn get(http: &mut HttpClient, path: &str) -> io::Result<String> {
    let resp = http.get(path).await?;
    assert_eq!(resp.code(), 200, "GET {path}: {}", resp.text());
    Ok(resp.text().into_owned())
}

/// Says `text` in `room` over HTTP.
async fn post(http: &mut HttpClient, room: &str, text: &str) -> io::Result<HttpResponse> {
    let path = format!("/rooms/{room}/messages");
    http.request(&path, HttpHeaders::new(), "POST", text).await
}

/// Polls `GET /rooms` until `room` is listed as `want`: how a client sees a
/// change nobody tells it about.
async fn wait_for_room(http: &mut HttpClient, want: &str) -> io::Result<()> {
    let polled = timeout(WAIT, async {
        loop {
            if get(http, "/rooms").await?.lines().any(|l| l == want) {
                return io::Result::Ok(());
            }
            sleep(Duration::from_millis(5)).await;
        }
    });
    polled.await?
}

/// Says `<tag>0`, `<tag>1`, ... in the member's room.
async fn say_many(mut client: Client, tag: &str, n: usize) -> io::Result<Client> {
    for i in 0..n {
        client.send(&format!("SAY {tag}{i}")).await?;
    }
    Ok(client)
}

async fn exercise(chat_port: u16, http_port: u16, servers: Servers) -> io::Result<()> {
    let mut http = HttpClient::new();
    http.set_timeout(Some(WAIT));
    http.connect("127.0.0.1", http_port, "http").await?;

    // Refusals, then two members in the lobby.
    let mut alice = Client::connect(chat_port, "alice").await?;
    alice.send("SAY anyone?").await?;
    alice.expect("ERR join a room first").await?;
    alice.send("DANCE").await?;
    assert!(alice
        .line()
        .await?
        .starts_with("ERR unknown command \"DANCE\""));
    alice.send("JOIN no room").await?;
    alice
        .expect("ERR a name is 1 to 32 letters, digits, - or _")
        .await?;
    alice.join("lobby").await?;
    let mut bob = Client::connect(chat_port, "bob").await?;
    bob.join("lobby").await?;
    alice.expect("* bob joined lobby").await?;
    assert_eq!(
        get(&mut http, "/rooms").await?,
        "lobby members=2 watchers=0 messages=0\n"
    );

    // Three senders at once, two over TCP and one over HTTP: both members
    // get all the messages, in one order (the room's), each sender's in the
    // order it sent them.
    const N: usize = 30;
    let alice_says = monocle::launch(say_many(alice, "a", N));
    let bob_says = monocle::launch(say_many(bob, "b", N));
    let poster = monocle::launch(async move {
        for i in 0..N {
            let resp = post(&mut http, "lobby", &format!("h{i}")).await?;
            assert_eq!(resp.code(), 201, "{}", resp.text());
        }
        io::Result::Ok(http)
    });
    let (mut alice, mut bob, mut http) = (alice_says.await?, bob_says.await?, poster.await?);
    let seen = alice.messages(3 * N).await?;
    assert_eq!(bob.messages(3 * N).await?, seen, "one order for everyone");
    for (who, tag) in [("alice", "a"), ("bob", "b"), ("http", "h")] {
        let theirs: Vec<&str> = seen
            .iter()
            .map(String::as_str)
            .filter(|l| l.starts_with(&format!("<{who}> ")))
            .collect();
        let sent: Vec<String> = (0..N).map(|i| format!("<{who}> {tag}{i}")).collect();
        assert_eq!(theirs, sent, "{who}'s messages, complete and in order");
    }

    // The history numbers the same order; `since` gives what came after.
    let resp = http.get("/rooms/lobby/history").await?;
    assert_eq!(resp.headers().get("x-last-message"), Some("90"));
    let history = resp.text();
    let numbered: Vec<String> = seen
        .iter()
        .zip(1..)
        .map(|(line, n)| format!("{n} {line}\n"))
        .collect();
    assert_eq!(history, numbered.concat());
    let tail = get(&mut http, "/rooms/lobby/history?since=85").await?;
    assert_eq!(tail, numbered[85..].concat());

    // Refusals over HTTP, each with its status.
    assert_eq!(post(&mut http, "nowhere", "hi").await?.code(), 404);
    let resp = post(&mut http, "lobby", "two\nlines").await?;
    assert_eq!(
        (resp.code(), &*resp.text()),
        (400, "a message is one line of text\n")
    );
    let resp = http.get("/rooms/lobby/history?since=yesterday").await?;
    assert_eq!(resp.code(), 400);
    assert_eq!(http.get("/rooms/nowhere/stream").await?.code(), 404);
    assert_eq!(http.get("/nowhere").await?.code(), 404);

    // Two watchers: one reads the stream as it comes and then leaves
    // without a word; the other reads the whole response with HttpClient,
    // which ends only when the server stops.
    let mut watcher = HttpClient::new();
    let mut feed = Feed::open(&mut watcher, http_port, "lobby").await?;
    let whole_stream = monocle::launch(async move {
        let mut client = HttpClient::new();
        client.set_timeout(Some(4 * WAIT));
        let url = format!("http://127.0.0.1:{http_port}/rooms/lobby/stream");
        client.get(&url).await
    });
    wait_for_room(&mut http, "lobby members=2 watchers=2 messages=90").await?;
    bob.send("SAY watched 1").await?;
    assert_eq!(feed.line().await?, "91 <bob> watched 1");
    assert_eq!(post(&mut http, "lobby", "watched 2").await?.code(), 201);
    assert_eq!(feed.line().await?, "92 <http> watched 2");
    drop(feed);
    // Nothing is said, yet the server sees the watcher go.
    wait_for_room(&mut http, "lobby members=2 watchers=1 messages=92").await?;
    assert_eq!(post(&mut http, "lobby", "watched 3").await?.code(), 201);
    for client in [&mut alice, &mut bob] {
        let got = client.messages(3).await?;
        assert_eq!(
            got,
            ["<bob> watched 1", "<http> watched 2", "<http> watched 3"]
        );
    }

    // A member that goes away without LEAVE or QUIT is removed.
    let mut carol = Client::connect(chat_port, "carol").await?;
    carol.join("lobby").await?;
    alice.expect("* carol joined lobby").await?;
    bob.expect("* carol joined lobby").await?;
    drop(carol);
    alice.expect("* carol left lobby (disconnected)").await?;
    bob.expect("* carol left lobby (disconnected)").await?;

    // LEAVE, then QUIT.
    bob.send("LEAVE").await?;
    bob.expect("* bob left lobby").await?;
    alice.expect("* bob left lobby").await?;
    bob.send("LEAVE").await?;
    bob.expect("ERR not in a room").await?;
    bob.send("QUIT").await?;
    bob.expect("* bye").await?;
    assert_eq!(bob.until_closed().await?, Vec::<String>::new());
    assert_eq!(
        get(&mut http, "/rooms").await?,
        "lobby members=1 watchers=1 messages=93\n"
    );

    // A member that never reads does not hold up its room: once its outbox
    // is full it is dropped, while a member that reads gets everything. A
    // watcher that never reads is cut off the same way.
    let mut slow = Client::connect(chat_port, "slow").await?;
    slow.join("firehose").await?;
    let mut fast = Client::connect(chat_port, "fast").await?;
    fast.join("firehose").await?;
    let mut slow_watcher = HttpClient::new();
    let mut slow_feed = Feed::open(&mut slow_watcher, http_port, "firehose").await?;
    let reader = monocle::launch(async move {
        let mut got = Vec::new();
        loop {
            let line = fast.line().await?;
            if line == "<http> end" {
                return io::Result::Ok(got);
            }
            got.push(line);
        }
    });
    let big = "x".repeat(16 << 10);
    let mut sent = 0;
    loop {
        let resp = post(&mut http, "firehose", &format!("{sent} {big}")).await?;
        assert_eq!(resp.code(), 201);
        sent += 1;
        let rooms = get(&mut http, "/rooms").await?;
        if rooms.contains("firehose members=1 watchers=0 ") {
            break;
        }
        assert!(sent < 10_000, "the slow member was never dropped");
    }
    assert_eq!(post(&mut http, "firehose", "end").await?.code(), 201);
    let got = timeout(WAIT, reader).await??;
    let messages: Vec<&String> = got.iter().filter(|l| l.starts_with("<http> ")).collect();
    assert_eq!(messages.len(), sent, "the reader got every message");
    for (i, line) in messages.iter().enumerate() {
        assert!(line.starts_with(&format!("<http> {i} ")), "in order");
    }
    assert!(got.iter().any(|l| l == "* slow left firehose (too slow)"));
    // What the slow member got before it was dropped is a part of the
    // conversation without holes: a prefix, in order.
    let before = slow.until_closed().await?;
    let delivered: Vec<&String> = before.iter().filter(|l| l.starts_with("<http> ")).collect();
    assert!(delivered.len() < sent);
    for (i, line) in delivered.iter().enumerate() {
        assert!(line.starts_with(&format!("<http> {i} ")), "a prefix");
    }
    // The watcher's response ends without its last chunk: its client can
    // tell it is incomplete.
    let (watched, complete) = slow_feed.until_closed().await?;
    assert!(!complete, "a cut-off watcher's body must not look whole");
    assert!(watched.len() < sent);
    for (i, line) in watched.iter().enumerate() {
        assert!(
            line.starts_with(&format!("{} <http> {i} ", i + 1)),
            "a prefix"
        );
    }
    let history = get(&mut http, "/rooms/firehose/history").await?;
    assert_eq!(history.lines().count(), HISTORY);
    assert!(history.ends_with(&format!("{} <http> end\n", sent + 1)));
    println!(
        "of {sent} messages, the slow member got {} and the slow watcher {} before they were dropped",
        delivered.len(),
        watched.len()
    );

    // Stop: members are told and disconnected, the stream that is still
    // watched ends cleanly (its last chunk sent), connections close.
    servers.stop().await;
    alice.expect("* server shutting down").await?;
    assert_eq!(alice.until_closed().await?, Vec::<String>::new());
    let resp = timeout(WAIT, whole_stream).await??;
    assert_eq!(resp.headers().get("transfer-encoding"), Some("chunked"));
    assert_eq!(
        resp.text(),
        "91 <bob> watched 1\n92 <http> watched 2\n93 <http> watched 3\n"
    );
    assert_eq!(servers.http.active_connections(), 0);
    assert!(servers.chat.borrow().members.is_empty());
    Ok(())
}

fn main() -> io::Result<()> {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();

    monocle::block_on(async {
        let chat: Shared = Rc::default();
        let service = Service::new(
            {
                let chat = chat.clone();
                move |conn: Connection| member(chat.clone(), conn)
            },
            0,
        );
        let tcp = add_service(service.bind_addr([127, 0, 0, 1]))?;
        let http = http_server(chat.clone());
        let http_port = http.start()?.port();
        println!(
            "chat on 127.0.0.1:{}, http on 127.0.0.1:{http_port}",
            tcp.port()
        );

        let chat_port = tcp.port();
        let servers = Servers { chat, tcp, http };
        let checks = monocle::launch(exercise(chat_port, http_port, servers));
        timeout(Duration::from_secs(60), checks).await??;
        println!("all checks passed");
        Ok(())
    })
}
