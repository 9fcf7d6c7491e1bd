//! The `simple-im` command: the server, the client, and tools for operators.
//!
//! Exit codes follow one rule across subcommands: 0 success, 1 the input was examined and found wrong
//! (or the operation failed), 2 the command line itself was wrong.

use clap::{Parser, Subcommand};
use simple_im_tokio::config::Config;
use simple_im_tokio::inspect::{self, Kind};
use simple_im_tokio::store::{SqliteStore, Store, UserPolicy};
use simple_im_tokio::{server, users};
use std::path::PathBuf;
use std::process::ExitCode;

/// mimalloc instead of the system allocator: a relayed MESSAGE makes a few dozen short-lived
/// allocations, and glibc's malloc/free were about 13% of the server's CPU per message in
/// `cargo xtask bench pager` (its bins and consolidation); mimalloc's thread-local free lists cost less.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "simple-im",
    version,
    about = "OMA SIMPLE IM 2.0 server, client and tools"
)]
struct Cli {
    /// The data directory (database, charging log); overrides the configuration file's `data_dir`.
    #[arg(long, global = true, value_name = "DIR")]
    data: Option<PathBuf>,
    /// A TOML configuration file (domain, listen addresses, limits, trusted cores, system URI).
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Check one captured message and print a readable summary.
    ///
    /// FILE is one message (for SIP, one datagram: bytes after the body that Content-Length excludes
    /// are reported and ignored); `-` reads standard input. The kind is detected from the content
    /// unless --as names it. Exits 0 when the message is valid, 1 with the reason (what, at which line
    /// and byte) when it is malformed or violates its RFC, 2 on usage errors.
    Parse {
        /// The file to read, or `-` for standard input.
        file: PathBuf,
        /// Parse as this kind instead of detecting it.
        #[arg(long = "as", value_enum)]
        kind: Option<Kind>,
    },
    /// Run the IM server (registrar, proxy, pager mode, deferred messaging).
    ///
    /// Prints `simple-im: listening on udp ADDR` / `tcp ADDR` for every bound address, then
    /// `simple-im: data in DIR` and `simple-im: ready`. Stops on Ctrl-C / SIGTERM.
    Server {
        /// Digest algorithms to challenge with, most preferred first (default `SHA-256,MD5`). Clients
        /// that read only the first challenge and know only MD5 (SIPp) need `MD5` first.
        #[arg(long, value_name = "LIST", value_delimiter = ',')]
        digest_algorithms: Vec<String>,
    },
    /// Run an IM client: stay online printing events; send a message, a chat or a file; list pending.
    ///
    /// Without a subcommand the client registers and prints one line per event until Ctrl-C,
    /// SIGTERM, `quit` or the end of standard input, then un-registers. Plain lines are
    /// `EVENT key=value ...` (values with spaces are quoted and escaped like JSON strings); --json
    /// prints one object per line with the same names: {"event":"EVENT","key":value,...}.
    ///
    /// Events and their fields:
    ///   registered expires          registration_failed status reason          unregistered
    ///   message from content_type text (id) (display=requested)     (x): only when it applies
    ///   sent handle status reason   send_failed handle status reason
    ///   delivered id status (handle) (chat)   displayed id status (handle) (chat)
    ///       (status: delivered/displayed, failed, forbidden, error, other; chat: it came in that chat)
    ///   invitation chat from        chat_established chat
    ///   chat_message chat text (id) (display=requested)
    ///   chat_sent chat              chat_delivered chat        chat_send_failed chat
    ///   chat_aborted chat           chat_closed chat status (reason)
    ///   chat_failed chat reason
    ///   file_offered chat from name bytes                      file_received chat path bytes sha256
    ///   file_declined chat reason   file_failed chat reason    file_sent chat path bytes
    ///   incoming_barred             rejected status            error reason
    ///
    /// Lines read on standard input while online:
    ///   display ID       send the display notification of the message printed with id=ID
    ///   send TO TEXT     send a pager (over --pager-limit: Large Message mode, its own MSRP session)
    ///   chat CHAT TEXT   a line in chat CHAT
    ///   bye CHAT         end chat CHAT
    ///   quit             un-register and exit
    ///
    /// Exit codes: 0 success; 1 failure (registration refused; a non-2xx answer, whose status and
    /// reason are printed on stderr; a negative notification; a timeout); 2 usage error.
    #[command(verbatim_doc_comment)]
    Client {
        #[command(flatten)]
        options: ClientArgs,
        #[command(subcommand)]
        action: Option<ClientAction>,
    },
    /// Manage user accounts (digest credentials are stored as HA1 hashes only).
    User {
        #[command(subcommand)]
        action: UserAction,
    },
    /// Manage pre-defined groups (chat URIs sip:NAME@DOMAIN of the Controlling IM Function).
    Group {
        #[command(subcommand)]
        action: GroupAction,
    },
}

#[derive(Subcommand)]
enum GroupAction {
    /// Create a group owned by a user.
    Add {
        /// The group name (the user part of sip:NAME@DOMAIN); must not be a user name.
        name: String,
        /// The owning user.
        #[arg(long)]
        owner: String,
        /// Only members may send into or join the group (others get 403).
        #[arg(long)]
        private: bool,
        /// Who may invite others: `owner` or `members`.
        #[arg(long, default_value = "owner", value_parser = ["owner", "members"])]
        invite: String,
        /// The most members (0: no limit).
        #[arg(long, default_value_t = 0)]
        max_participants: u32,
        /// A first member (a user name, or another group's name); repeatable.
        #[arg(long, value_name = "NAME")]
        member: Vec<String>,
    },
    /// List groups: name, owner, public/private, invite policy, maximum, members.
    List,
    /// Remove a group.
    Remove {
        /// The group name.
        name: String,
    },
    /// Add or remove a member.
    Member {
        #[command(subcommand)]
        action: MemberAction,
    },
}

#[derive(Subcommand)]
enum MemberAction {
    /// Add a member (refused past the group's maximum).
    Add {
        /// The group name.
        group: String,
        /// The member (a user name, or another group's name).
        member: String,
    },
    /// Remove a member.
    Remove {
        /// The group name.
        group: String,
        /// The member.
        member: String,
    },
}

#[derive(clap::Args)]
struct ClientArgs {
    /// The server (registrar and outbound proxy) as HOST:PORT; the port defaults to 5060.
    #[arg(long, value_name = "ADDR")]
    server: String,
    /// The user name: the AoR is sip:USER@DOMAIN, and the digest user name is USER.
    #[arg(long)]
    user: String,
    /// The digest password.
    #[arg(long)]
    password: String,
    /// The user's domain (the host part of AoRs; also used for recipients given without one).
    #[arg(long, default_value = "localhost")]
    domain: String,
    /// SIP over TCP (one connection to the server) instead of UDP.
    #[arg(long)]
    tcp: bool,
    /// Print events as JSON lines instead of plain text.
    #[arg(long)]
    json: bool,
    /// Send a display notification for every received message (pager or chat) that asks for one.
    #[arg(long)]
    auto_display: bool,
    /// Accept chat invitations, including Large Message sessions (otherwise they are printed and left
    /// ringing).
    #[arg(long)]
    accept_chats: bool,
    /// The registration lifetime to ask for, in seconds; the client refreshes at half of what the
    /// server grants.
    #[arg(long, value_name = "SECS", default_value_t = 3600)]
    expires: u32,
    /// Offer `a=setup:active` (this side connects, as devices do) in the chats, Large Messages and
    /// files this client starts, instead of `actpass` with a listening socket.
    #[arg(long)]
    msrp_active: bool,
    /// An MSRP relay (RFC 4976) in front of this client, e.g. `msrp://relay.example.com:2855;tcp`: the
    /// sessions this client starts connect to it first and authenticate (AUTH, Digest with --user and
    /// --password), then put its Use-Path first in their `a=path` and run on that connection.
    #[arg(long, value_name = "URI")]
    msrp_relay: Option<String>,
    /// MSRP over TLS (msrps, RFC 4975 §14) in the sessions this client starts, trusting the CA
    /// certificates in this PEM file: the offer says `TCP/TLS/MSRP` with an `msrps:` path and
    /// `a=setup:active`, and the client connects with TLS, checking the peer's name against its URI.
    #[arg(long, value_name = "CA_FILE")]
    msrp_tls: Option<std::path::PathBuf>,
    /// The largest pager-mode body in bytes, sent or accepted (at most 3000); a longer text is sent in
    /// Large Message mode (its own MSRP session: INVITE, one SEND, BYE).
    #[arg(long, value_name = "BYTES", default_value_t = simple_im_tokio::client::DEFAULT_PAGER_LIMIT)]
    pager_limit: usize,
    /// How long `send` and `pending` wait for answers and notifications, in seconds.
    #[arg(long, value_name = "SECS", default_value_t = 30)]
    timeout: u64,
    /// The URI of the server's Deferred Messaging commands (default sip:system@DOMAIN).
    #[arg(long, value_name = "URI")]
    system_uri: Option<String>,
    /// Save files pushed to this user here (NAME.part while receiving, renamed to NAME once the size
    /// and SHA-256 announced by the sender match); without it file transfers are declined (603).
    #[arg(long, value_name = "DIR")]
    download_dir: Option<PathBuf>,
}

#[derive(Subcommand)]
enum ClientAction {
    /// Send one pager-mode message and exit: 0 on a 2xx (202: stored for an offline recipient),
    /// 1 with the status and reason otherwise.
    Send {
        /// The recipient: a SIP URI, USER@HOST, or a user name of DOMAIN.
        to: String,
        /// The text (text/plain; UTF-8).
        text: String,
        /// Ask for delivery and display notifications (IMDN; the body is wrapped in CPIM).
        #[arg(long)]
        imdn: bool,
        /// Register first, and with --imdn wait for both notifications (exit 1 if one is negative or
        /// does not come within --timeout); un-register at the end.
        #[arg(long)]
        wait: bool,
    },
    /// List the messages the server stores for this user (deferred), without fetching them: a count
    /// line, then one line per message: store id, sender, content type, bytes (tab-separated; with
    /// --json, `pending summary` then `pending_message store_id from content_type bytes`).
    Pending,
    /// Open an MSRP chat with TO (registering first): every line on standard input is sent, the
    /// peer's lines are printed as `chat_message` events; the end of input (or Ctrl-C) ends the chat
    /// with BYE. Exit 1 with the status and reason when the invitation is refused.
    Chat {
        /// The recipient: a SIP URI, USER@HOST, or a user name of DOMAIN.
        to: String,
    },
    /// Push a file to TO (RFC 5547: a sendonly MSRP session whose file-selector gives the name,
    /// size and SHA-256), streamed from disk with a progress bar on stderr; prints `file_sent` and
    /// exits 0 once the receiver's success REPORT covers the whole file. Exit 1 with a clear reason
    /// when the receiver declines (603) or the transfer breaks.
    SendFile {
        /// The recipient: a SIP URI, USER@HOST, or a user name of DOMAIN.
        to: String,
        /// The file to send.
        path: PathBuf,
    },
}

#[derive(Subcommand)]
enum UserAction {
    /// Add an account.
    Add {
        /// The user name (the user part of sip:NAME@DOMAIN).
        name: String,
        /// The password (only its HA1 hashes are stored).
        #[arg(long)]
        password: String,
        /// A display name, for addressing by name in pager mode.
        #[arg(long)]
        display_name: Option<String>,
    },
    /// List accounts: name, display name, creation time.
    List,
    /// Remove an account with its policy and pending deferred messages.
    Remove {
        /// The user name.
        name: String,
    },
    /// Show, or with options replace, a user's Participating-function policy (until the XDMS exists).
    ///
    /// Any option given replaces the whole policy: `--block` / `--grant` may repeat; a grant list
    /// admits only the listed senders. Prints the policy in effect afterwards.
    Policy {
        /// The user name.
        name: String,
        /// Refuse MESSAGEs from this sender (a SIP URI or user@host); repeatable.
        #[arg(long, value_name = "URI")]
        block: Vec<String>,
        /// Admit only these senders (a SIP URI or user@host); repeatable.
        #[arg(long, value_name = "URI")]
        grant: Vec<String>,
        /// Bar all incoming IM (403 to every sender).
        #[arg(long)]
        bar_incoming: bool,
        /// Store pager messages for later delivery even while registered.
        #[arg(long)]
        store_pager_messages: bool,
        /// Reset the policy to the default (nothing blocked or barred).
        #[arg(long)]
        clear: bool,
    },
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    match cli.command {
        Command::Parse { file, kind } => parse(&file, kind),
        Command::Server { digest_algorithms } => {
            match Config::load(cli.config.as_deref(), cli.data.as_deref()) {
                Ok(config) => match server_options(&config, &digest_algorithms) {
                    Ok(options) => server::run(config, options),
                    Err(e) => {
                        eprintln!("simple-im server: {e}");
                        ExitCode::from(2)
                    }
                },
                Err(e) => {
                    eprintln!("simple-im server: {e}");
                    ExitCode::from(1)
                }
            }
        }
        Command::Client { options, action } => client(options, action),
        Command::User { action } => user(cli.config.as_deref(), cli.data.as_deref(), action),
        Command::Group { action } => group(cli.config.as_deref(), cli.data.as_deref(), action),
    }
}

fn group(
    config_file: Option<&std::path::Path>,
    data: Option<&std::path::Path>,
    action: GroupAction,
) -> ExitCode {
    use simple_im_tokio::server::groups::cli;
    let config = match Config::load(config_file, data) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("simple-im group: {e}");
            return ExitCode::from(1);
        }
    };
    let outcome = match action {
        GroupAction::Add {
            name,
            owner,
            private,
            invite,
            max_participants,
            member,
        } => cli::cli_add(
            &config,
            simple_im_tokio::store::Group {
                name,
                owner,
                private,
                may_invite: simple_im_tokio::store::InvitePolicy::parse(&invite).unwrap_or_default(),
                max_participants,
                members: member,
                created: simple_im_tokio::store::UnixMillis::now(),
            },
        ),
        GroupAction::List => cli::cli_list(&config),
        GroupAction::Remove { name } => cli::cli_remove(&config, &name),
        GroupAction::Member {
            action: MemberAction::Add { group, member },
        } => cli::cli_member(&config, &group, &member, true),
        GroupAction::Member {
            action: MemberAction::Remove { group, member },
        } => cli::cli_member(&config, &group, &member, false),
    };
    match outcome {
        Ok(text) => {
            print!("{text}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("simple-im group: {e}");
            ExitCode::from(1)
        }
    }
}

fn user(
    config_file: Option<&std::path::Path>,
    data: Option<&std::path::Path>,
    action: UserAction,
) -> ExitCode {
    let config = match Config::load(config_file, data) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("simple-im user: {e}");
            return ExitCode::from(1);
        }
    };
    let outcome = match &action {
        UserAction::Add {
            name,
            password,
            display_name,
        } => users::cli_add(&config, name, password, display_name.as_deref()).map_err(|e| e.to_string()),
        UserAction::List => users::cli_list(&config).map_err(|e| e.to_string()),
        UserAction::Remove { name } => users::cli_remove(&config, name).map_err(|e| e.to_string()),
        UserAction::Policy {
            name,
            block,
            grant,
            bar_incoming,
            store_pager_messages,
            clear,
        } => {
            let change =
                (*clear || !block.is_empty() || !grant.is_empty() || *bar_incoming || *store_pager_messages)
                    .then(|| UserPolicy {
                        blocked: block.clone(),
                        granted: grant.clone(),
                        incoming_barred: *bar_incoming,
                        store_pager_messages: *store_pager_messages,
                    });
            policy(&config, name, change)
        }
    };
    match outcome {
        Ok(text) => {
            if !text.is_empty() {
                println!("{}", text.trim_end_matches('\n'));
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("simple-im user: {e}");
            ExitCode::from(1)
        }
    }
}

fn client(args: ClientArgs, action: Option<ClientAction>) -> ExitCode {
    use simple_im_tokio::client::{self, Mode, Options};
    let options = Options {
        server: args.server,
        user: args.user,
        password: args.password,
        domain: args.domain,
        tcp: args.tcp,
        json: args.json,
        auto_display: args.auto_display,
        accept_chats: args.accept_chats,
        msrp_active: args.msrp_active,
        msrp_relay: args.msrp_relay,
        msrp_tls: args.msrp_tls,
        expires: args.expires,
        pager_limit: args.pager_limit,
        timeout: std::time::Duration::from_secs(args.timeout),
        system_uri: args.system_uri,
        download_dir: args.download_dir,
    };
    let mode = match action {
        None => Mode::Online,
        Some(ClientAction::Send { to, text, imdn, wait }) => Mode::Send { to, text, imdn, wait },
        Some(ClientAction::Pending) => Mode::Pending,
        Some(ClientAction::Chat { to }) => Mode::Chat { to },
        Some(ClientAction::SendFile { to, path }) => Mode::SendFile { to, path },
    };
    client::run(options, mode)
}

/// The server's role options: the configuration's `[server]` table, then the command line over it.
fn server_options(config: &Config, digest_algorithms: &[String]) -> Result<server::Options, String> {
    let mut options = config.server_options();
    if !digest_algorithms.is_empty() {
        options.digest_algorithms = simple_im_tokio::config::digest_algorithms(digest_algorithms)
            .map_err(|e| format!("--digest-algorithms: {e}"))?;
    }
    Ok(options)
}

/// `simple-im user policy`: replaces the policy when `change` is given, then prints it.
fn policy(config: &Config, name: &str, change: Option<UserPolicy>) -> Result<String, String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .map_err(|e| e.to_string())?;
    let store = SqliteStore::open(&config.data_dir).map_err(|e| e.to_string())?;
    runtime.block_on(async {
        if store.user(name).await.map_err(|e| e.to_string())?.is_none() {
            return Err(format!("no user named '{name}' (see `simple-im user list`)"));
        }
        if let Some(policy) = change {
            store.set_policy(name, policy).await.map_err(|e| e.to_string())?;
        }
        let p = store.policy(name).await.map_err(|e| e.to_string())?;
        Ok(format!(
            "blocked\t{}\ngranted\t{}\nincoming_barred\t{}\nstore_pager_messages\t{}\n",
            p.blocked.join(" "),
            p.granted.join(" "),
            p.incoming_barred,
            p.store_pager_messages
        ))
    })
}

fn parse(file: &std::path::Path, kind: Option<Kind>) -> ExitCode {
    let bytes = if file.as_os_str() == "-" {
        let mut buf = Vec::new();
        if let Err(e) = std::io::Read::read_to_end(&mut std::io::stdin(), &mut buf) {
            eprintln!("simple-im parse: cannot read standard input: {e}");
            return ExitCode::from(2);
        }
        buf
    } else {
        match std::fs::read(file) {
            Ok(b) => b,
            Err(e) => {
                eprintln!("simple-im parse: cannot read {}: {e}", file.display());
                return ExitCode::from(2);
            }
        }
    };
    let name = if file.as_os_str() == "-" {
        "<stdin>".to_string()
    } else {
        file.display().to_string()
    };
    match inspect::inspect(&bytes, kind) {
        Ok(summary) => {
            print!("{summary}");
            ExitCode::SUCCESS
        }
        Err(reason) => {
            eprintln!("{name}: invalid: {reason}");
            ExitCode::from(1)
        }
    }
}
