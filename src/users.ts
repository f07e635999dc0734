// Who may sign in, in each worker: the demo accounts of the sign-in example, their passwords hashed with scrypt when
// the worker starts and never kept in clear. Replace createUserDirectory() with your user database (the routes need
// only `verify`) and set demoAccountsInUse to false: production refuses to start with the demo accounts otherwise.
// Shared: config.ts reads demoAccountsInUse in the primary and in each worker.
import { randomBytes, scrypt, timingSafeEqual, type BinaryLike } from 'node:crypto';

export interface User {
  id: string;
  name: string;
  displayName: string;
}

export interface UserDirectory {
  /** The user with this name and password, or null: the same answer, in about the same time, for an unknown name. */
  verify(name: string, password: string): Promise<User | null>;
}

/**
 * Whether createUserDirectory() signs users in against the demo accounts: the config refuses to start production
 * while this is true, unless DEMO_USERS=true says it is a demo deployment; development says so at start.
 */
export const demoAccountsInUse = true;

/** The directory the app signs users in with. */
export function createUserDirectory(): UserDirectory {
  return createDemoDirectory();
}

/** The demo accounts (the README names them). Replace them before anyone else can reach the app. */
export const demoAccounts = [
  { id: 'u-alice', name: 'alice', displayName: 'Alice', password: 'alice-demo-password' },
  { id: 'u-bob', name: 'bob', displayName: 'Bob', password: 'bob-demo-password' },
] as const;

const keyLength = 32;

function hash(password: BinaryLike, salt: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => scrypt(password, salt, keyLength, (error, key) => (error ? reject(error) : resolve(key))));
}

/** The demo accounts, their passwords hashed now (scrypt, a salt each). */
export function createDemoDirectory(): UserDirectory {
  const entries = Promise.all(
    demoAccounts.map(async ({ password, ...user }) => {
      const salt = randomBytes(16);
      return { user: { ...user }, salt, key: await hash(password, salt) };
    }),
  );
  const unknownSalt = randomBytes(16);
  return {
    async verify(name, password) {
      const entry = (await entries).find(({ user }) => user.name === name);
      // An unknown name costs a hash too, so the time taken does not tell which names exist.
      const key = await hash(password, entry?.salt ?? unknownSalt);
      return entry !== undefined && timingSafeEqual(key, entry.key) ? entry.user : null;
    },
  };
}
