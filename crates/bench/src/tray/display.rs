//! A private X display (Xvfb) and what a person does to a window on it:
//! find it, type into it, close it with the title bar's ×, which a window
//! manager turns into a `WM_DELETE_WINDOW` message (sent here directly: Xvfb
//! has no window manager).

use std::{process::Stdio, time::Duration};

use anyhow::{Context, bail};
use tokio::{
    io::{AsyncBufReadExt, BufReader},
    process::{Child, Command},
};
use x11rb::{
    connection::Connection,
    protocol::{
        xproto::{
            AtomEnum, ClientMessageEvent, ConnectionExt as _, EventMask, InputFocus,
            KEY_PRESS_EVENT, KEY_RELEASE_EVENT, MapState, Window,
        },
        xtest::ConnectionExt as _,
    },
    rust_connection::RustConnection,
};

/// `Xvfb` on the first free display, killed when dropped.
#[derive(Debug)]
pub struct Xvfb {
    _child: Child,
    /// `:<n>`, for `DISPLAY`.
    pub name: String,
}

impl Xvfb {
    pub async fn start() -> anyhow::Result<Self> {
        // `-displayfd 1`: Xvfb picks a free display and prints its number
        // once it accepts connections.
        let mut child = Command::new("Xvfb")
            .args([
                "-displayfd",
                "1",
                "-screen",
                "0",
                "1280x800x24",
                "-nolisten",
                "tcp",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .context("cannot start Xvfb (Debian: apt-get install xvfb)")?;
        let stdout = child.stdout.take().context("no stdout")?;
        let line = tokio::time::timeout(
            Duration::from_secs(20),
            BufReader::new(stdout).lines().next_line(),
        )
        .await
        .context("Xvfb did not start")??
        .context("Xvfb exited at once")?;
        Ok(Self {
            _child: child,
            name: format!(":{}", line.trim()),
        })
    }
}

/// A client connection to the display.
#[derive(Debug)]
pub struct Screen {
    conn: RustConnection,
    root: Window,
}

impl Screen {
    pub fn connect(display: &str) -> anyhow::Result<Self> {
        let (conn, n) =
            x11rb::connect(Some(display)).with_context(|| format!("cannot open {display}"))?;
        let root = conn.setup().roots[n].root;
        Ok(Self { conn, root })
    }

    fn atom(&self, name: &str) -> anyhow::Result<u32> {
        Ok(self.conn.intern_atom(false, name.as_bytes())?.reply()?.atom)
    }

    /// The mapped top-level windows of process `pid` (GTK sets `_NET_WM_PID`),
    /// with their titles.
    pub fn windows_of(&self, pid: u32) -> anyhow::Result<Vec<(Window, String)>> {
        let pid_atom = self.atom("_NET_WM_PID")?;
        let name_atom = self.atom("_NET_WM_NAME")?;
        let utf8 = self.atom("UTF8_STRING")?;
        let mut found = Vec::new();
        for w in self.conn.query_tree(self.root)?.reply()?.children {
            let owner = self
                .conn
                .get_property(false, w, pid_atom, AtomEnum::CARDINAL, 0, 1)?
                .reply()?;
            if owner.value32().and_then(|mut v| v.next()) != Some(pid) {
                continue;
            }
            if self.conn.get_window_attributes(w)?.reply()?.map_state != MapState::VIEWABLE {
                continue;
            }
            let title = self
                .conn
                .get_property(false, w, name_atom, utf8, 0, 256)?
                .reply()?;
            found.push((w, String::from_utf8_lossy(&title.value).into_owned()));
        }
        Ok(found)
    }

    /// Asks the window to close, as the title bar's × does.
    pub fn close(&self, window: Window) -> anyhow::Result<()> {
        let protocols = self.atom("WM_PROTOCOLS")?;
        let delete = self.atom("WM_DELETE_WINDOW")?;
        let event = ClientMessageEvent::new(32, window, protocols, [delete, 0, 0, 0, 0]);
        self.conn
            .send_event(false, window, EventMask::NO_EVENT, event)?;
        self.conn.flush()?;
        Ok(())
    }

    /// Focuses `window` and presses each key (X keysyms) in turn, through
    /// XTEST: real key events, as from a keyboard.
    pub fn type_keys(&self, window: Window, keysyms: &[u32]) -> anyhow::Result<()> {
        self.conn
            .set_input_focus(InputFocus::PARENT, window, x11rb::CURRENT_TIME)?
            .check()?;
        let setup = self.conn.setup();
        let (first, count) = (setup.min_keycode, setup.max_keycode - setup.min_keycode + 1);
        let map = self.conn.get_keyboard_mapping(first, count)?.reply()?;
        let per = usize::from(map.keysyms_per_keycode.max(1));
        for &keysym in keysyms {
            let Some(index) = map.keysyms.iter().position(|&k| k == keysym) else {
                bail!("no key for keysym {keysym:#x} on this display");
            };
            let code = first + u8::try_from(index / per).context("keycode out of range")?;
            for kind in [KEY_PRESS_EVENT, KEY_RELEASE_EVENT] {
                self.conn
                    .xtest_fake_input(kind, code, x11rb::CURRENT_TIME, self.root, 0, 0, 0)?
                    .check()?;
            }
            // A key a second on a slow machine is not what a person types;
            // this is: the page handles each press before the next.
            std::thread::sleep(Duration::from_millis(80));
        }
        self.conn.flush()?;
        Ok(())
    }
}

/// X keysyms used here.
pub mod keys {
    pub const TAB: u32 = 0xff09;
    pub const RETURN: u32 = 0xff0d;
}
