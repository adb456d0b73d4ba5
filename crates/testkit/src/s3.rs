//! S3-compatible storage on loopback: moto's server (PyPI `moto[server]`,
//! installed by `scripts/test.sh`) in a process of its own, with request
//! signatures checked.
//!
//! moto accepts any credentials unless asked to check them; this launcher
//! asks: a small Python bootstrap starts moto's threaded server on
//! `127.0.0.1` and a free port, creates an IAM user allowed `s3:*` with an
//! access key, then turns on moto's signature and policy checks for every
//! later request. [`MotoS3::access_key_id`] and
//! [`MotoS3::secret_access_key`] are that key; a wrong secret gets
//! `SignatureDoesNotMatch`, an unknown key id `InvalidAccessKeyId`, as from
//! AWS. [`MotoS3::temporary_credentials`] are an assumed role's key with
//! its session token, which moto checks as well.
//!
//! One correction to moto: it checks signatures against the query string as
//! its web framework decoded it (`prefix=a/b`), where AWS re-encodes every
//! query value (`prefix=a%2Fb`), so a correctly signed listing would be
//! refused; the bootstrap restores AWS's rule before moto computes the
//! expected signature. `restic` (minio-go) and keepup both sign by AWS's
//! rule.
//!
//! The server is killed on drop, and by the kernel if the test process
//! dies first. A missing moto is an error (the test fails), never a skip.

use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::launch::kill_with_parent;
use crate::ports::free_port;

/// The bootstrap: argv = host, port, credentials file.
const BOOTSTRAP: &str = r#"
import json, sys, time
from urllib.parse import quote, unquote

host, port, creds_file = sys.argv[1], int(sys.argv[2]), sys.argv[3]

from moto.iam.access_control import IAMRequestBase

_init = IAMRequestBase.__init__

def _aws_query_rule(self, *args, **kwargs):
    # AWS signs the query with every name and value percent-encoded.
    _init(self, *args, **kwargs)
    path, sep, query = self._path.partition("?")
    if sep:
        pairs = [p.partition("=") for p in query.split("&") if p]
        self._path = path + "?" + "&".join(
            quote(unquote(k), safe="-_.~") + "=" + quote(unquote(v), safe="-_.~")
            for k, _, v in pairs
        )

IAMRequestBase.__init__ = _aws_query_rule

from moto.server import ThreadedMotoServer

server = ThreadedMotoServer(ip_address=host, port=port, verbose=False)
server.start()

import boto3

iam = boto3.client(
    "iam",
    endpoint_url=f"http://{host}:{port}",
    region_name="us-east-1",
    aws_access_key_id="bootstrap",
    aws_secret_access_key="bootstrap",
)
iam.create_user(UserName="keepup")
key = iam.create_access_key(UserName="keepup")["AccessKey"]
s3_everything = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}],
    }
)
iam.put_user_policy(UserName="keepup", PolicyName="s3", PolicyDocument=s3_everything)

# Temporary credentials (with a session token) of a role allowed the same.
iam.create_role(
    RoleName="keepup-temporary",
    AssumeRolePolicyDocument=json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"AWS": "*"},
                    "Action": "sts:AssumeRole",
                }
            ],
        }
    ),
)
iam.put_role_policy(
    RoleName="keepup-temporary", PolicyName="s3", PolicyDocument=s3_everything
)
sts = boto3.client(
    "sts",
    endpoint_url=f"http://{host}:{port}",
    region_name="us-east-1",
    aws_access_key_id=key["AccessKeyId"],
    aws_secret_access_key=key["SecretAccessKey"],
)
role_arn = iam.get_role(RoleName="keepup-temporary")["Role"]["Arn"]
temporary = sts.assume_role(RoleArn=role_arn, RoleSessionName="keepup-test")[
    "Credentials"
]

# From now on every request must be signed by a known key and allowed.
from moto import settings
from moto.core.authorization import ActionAuthenticatorMixin

settings.INITIAL_NO_AUTH_ACTION_COUNT = 0
ActionAuthenticatorMixin.request_count = 0

with open(creds_file + ".tmp", "w") as f:
    f.write(
        "\n".join(
            [
                key["AccessKeyId"],
                key["SecretAccessKey"],
                temporary["AccessKeyId"],
                temporary["SecretAccessKey"],
                temporary["SessionToken"],
            ]
        )
        + "\n"
    )
import os
os.rename(creds_file + ".tmp", creds_file)

while True:
    time.sleep(3600)
"#;

/// A running moto S3 server with signature checks.
pub struct MotoS3 {
    child: Child,
    addr: SocketAddr,
    dir: tempfile::TempDir,
    access_key_id: String,
    secret_access_key: String,
    temporary: Temporary,
}

/// Temporary credentials: a role's key and its session token.
#[derive(Clone)]
pub struct Temporary {
    /// `ASIA...`.
    pub access_key_id: String,
    /// The secret.
    pub secret_access_key: String,
    /// The session token that must accompany them.
    pub session_token: String,
}

impl std::fmt::Debug for MotoS3 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MotoS3")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl MotoS3 {
    /// Starts moto on 127.0.0.1 and a free port and waits until its test
    /// user exists (a few seconds: moto is Python).
    pub fn start() -> io::Result<Self> {
        let dir = tempfile::tempdir()?;
        let script = dir.path().join("moto_bootstrap.py");
        std::fs::write(&script, BOOTSTRAP)?;
        let creds = dir.path().join("credentials");
        let log = dir.path().join("moto.log");
        let port = free_port(std::net::Ipv4Addr::LOCALHOST)?;
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let mut cmd = Command::new("python3");
        cmd.arg(&script)
            .arg(addr.ip().to_string())
            .arg(port.to_string())
            .arg(&creds)
            .current_dir(dir.path())
            // Nothing of the caller's AWS setup may leak into the server.
            .env_remove("AWS_ACCESS_KEY_ID")
            .env_remove("AWS_SECRET_ACCESS_KEY")
            .env_remove("AWS_SESSION_TOKEN")
            .env("AWS_CONFIG_FILE", dir.path().join("aws-config"))
            .env(
                "AWS_SHARED_CREDENTIALS_FILE",
                dir.path().join("aws-credentials"),
            )
            .stdin(Stdio::null())
            .stdout(Stdio::from(std::fs::File::create(&log)?))
            .stderr(Stdio::from(
                std::fs::File::options().append(true).open(&log)?,
            ));
        kill_with_parent(&mut cmd);
        let mut child = cmd.spawn().map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("cannot run python3 for moto (pip install 'moto[server]'): {e}"),
            )
        })?;
        let (access_key_id, secret_access_key, temporary) =
            match wait_credentials(&mut child, &creds, &log, Duration::from_secs(90)) {
                Ok(c) => c,
                Err(e) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(e);
                }
            };
        Ok(Self {
            child,
            addr,
            dir,
            access_key_id,
            secret_access_key,
            temporary,
        })
    }

    /// The listening address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// restic's location of `prefix` in `bucket`:
    /// `s3:http://127.0.0.1:PORT/bucket/prefix` (no credentials: those go
    /// in `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY`).
    pub fn location(&self, bucket: &str, prefix: &str) -> String {
        if prefix.is_empty() {
            format!("s3:http://{}/{bucket}", self.addr)
        } else {
            format!("s3:http://{}/{bucket}/{prefix}", self.addr)
        }
    }

    /// The test user's access key id.
    pub fn access_key_id(&self) -> &str {
        &self.access_key_id
    }

    /// The test user's secret access key.
    pub fn secret_access_key(&self) -> &str {
        &self.secret_access_key
    }

    /// Temporary credentials (an assumed role's key and session token),
    /// allowed the same as the test user.
    pub fn temporary_credentials(&self) -> Temporary {
        self.temporary.clone()
    }

    /// moto's output so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("moto.log")).unwrap_or_default()
    }
}

impl Drop for MotoS3 {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits for the bootstrap's credentials file; fails with the log's tail
/// when the process exits first or `limit` passes.
fn wait_credentials(
    child: &mut Child,
    creds: &Path,
    log: &Path,
    limit: Duration,
) -> io::Result<(String, String, Temporary)> {
    let deadline = Instant::now() + limit;
    let tail = || {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        let start = text.len().saturating_sub(2000);
        text.get(start..).unwrap_or_default().to_owned()
    };
    loop {
        if let Ok(text) = std::fs::read_to_string(creds) {
            let lines: Vec<&str> = text.lines().collect();
            if let [id, secret, tid, tsecret, token] = lines[..] {
                let temporary = Temporary {
                    access_key_id: tid.to_owned(),
                    secret_access_key: tsecret.to_owned(),
                    session_token: token.to_owned(),
                };
                return Ok((id.to_owned(), secret.to_owned(), temporary));
            }
        }
        if let Some(status) = child.try_wait()? {
            return Err(io::Error::other(format!(
                "moto exited ({status}) before it was ready (is moto installed? pip install 'moto[server]'): {}",
                tail()
            )));
        }
        if Instant::now() > deadline {
            return Err(io::Error::other(format!(
                "moto not ready after {limit:?}: {}",
                tail()
            )));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
