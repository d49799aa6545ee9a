import { type FormEvent, useState } from 'react';
import { DevLoginUnavailable, devLogin, type Session } from './auth';

interface SignInProps {
  onSignedIn(session: Session): void;
  /** Why the person sees this screen again (an expired token), if they were signed in before. */
  reason?: string | null;
}

export function SignIn({ onSignedIn, reason }: SignInProps) {
  const [user, setUser] = useState('');
  const [problem, setProblem] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    const name = user.trim();
    if (!name) {
      setProblem('Enter a user name.');
      return;
    }
    setBusy(true);
    setProblem(null);
    try {
      onSignedIn(await devLogin(name));
    } catch (error) {
      setProblem(
        error instanceof DevLoginUnavailable
          ? 'Dev login is turned off on this server. Open the chat from your dashboard to sign in.'
          : error instanceof Error
            ? error.message
            : 'Sign-in failed.',
      );
      setBusy(false);
    }
  };

  return (
    <main className="sign-in">
      <h1>Agent chat</h1>
      {reason && (
        <p className="notice" role="alert">
          {reason}
        </p>
      )}
      <p>
        You are not signed in. This page receives your sign-in from the dashboard that hosts it; none was handed over.
        Open the chat from the dashboard, or reload it there.
      </p>
      <form onSubmit={(e) => void submit(e)} className="dev-login" aria-describedby="dev-login-help">
        <h2>Development sign-in</h2>
        <p id="dev-login-help">On a local server with DEV_AUTH on, choose any user name.</p>
        <label htmlFor="dev-user">User name</label>
        <div className="inline-form">
          <input
            id="dev-user"
            name="user"
            autoComplete="username"
            value={user}
            onChange={(e) => setUser(e.currentTarget.value)}
            disabled={busy}
          />
          <button type="submit" disabled={busy}>
            {busy ? 'Signing in…' : 'Sign in'}
          </button>
        </div>
        {problem && (
          <p role="alert" className="form-problem">
            {problem}
          </p>
        )}
      </form>
    </main>
  );
}
