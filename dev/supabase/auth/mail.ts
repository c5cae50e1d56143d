import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { composeEmail, newMessageId } from "../../../lib/email/mime";

/** A message the local Auth sent: what `supabase start` shows in its mail catcher. */
export interface AuthEmail {
  to: string;
  kind: "signup" | "magiclink";
  subject: string;
  /** The code a person types (`verifyOtp({ email, token })`). */
  otp: string;
  /** The link a person clicks: `/auth/v1/verify?token=…&type=…&redirect_to=…`. */
  link: string;
  sentAt: Date;
}

const from = { name: "AI Agent Team (local Auth)", address: "noreply@auth.localhost" };

/**
 * The local Auth's mailer: each message goes to the outbox as an `.eml` file, to the console, and to
 * `sent` (newest last), where tests and the dev banner read the code. Nothing leaves the machine.
 */
export class AuthMailer {
  readonly sent: AuthEmail[] = [];

  constructor(private readonly options: { outboxDir: string; print: boolean }) {}

  async send(email: Omit<AuthEmail, "subject" | "sentAt">): Promise<void> {
    const subject = email.kind === "signup" ? "Confirm your signup" : "Your magic link";
    const text =
      email.kind === "signup"
        ? `Follow this link to confirm your address:\n${email.link}\n\nOr enter the code: ${email.otp}\n`
        : `Follow this link to sign in:\n${email.link}\n\nOr enter the code: ${email.otp}\n`;
    const sent = { ...email, subject, sentAt: new Date() };
    this.sent.push(sent);
    const mime = await composeEmail({
      from,
      to: { address: email.to },
      subject,
      text,
      html: `<p>${text.replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll("\n", "<br>")}</p>`,
      messageId: newMessageId(from.address),
    });
    await mkdir(this.options.outboxDir, { recursive: true });
    await writeFile(join(this.options.outboxDir, `auth-${sent.sentAt.getTime()}-${email.kind}.eml`), mime);
    if (this.options.print) {
      console.log(`auth: ${subject.toLowerCase()} for ${email.to}: code ${email.otp}, link ${email.link}`);
    }
  }

  /** The newest message to an address. */
  latest(to: string): AuthEmail | undefined {
    return this.sent.findLast((email) => email.to === to.toLowerCase());
  }
}
