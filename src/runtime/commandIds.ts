/**
 * Names for commands and their events. A command named by its caller (every HTTP command is) gives
 * its events name-based ids (UUID version 5): deciding the same command again — after its answer was
 * lost, on another node — gives the same ids, which the store holds at most once.
 */
import { randomUUID } from "node:crypto"
import { v5 as uuidv5 } from "uuid"

/** This project's namespace for name-based ids; never change it, or stored ids stop matching. */
const NAMESPACE = "afab2fc0-4028-46ed-8ccc-84d074450364"

/** The id of a command's `index`th event (from 0); a random id when the command has no name. */
export const commandEventId = (commandId: string | undefined, index: number): string =>
  commandId === undefined ? randomUUID() : uuidv5(`event:${commandId}:${index}`, NAMESPACE)

/** A command's id from its caller's idempotency key: a retry with the key is the same command. */
export const commandIdForKey = (scope: string, key: string): string => uuidv5(`command:${scope}:${key}`, NAMESPACE)

/** A stable id for anything named by what it is (a payment of an order's attempt, say). */
export const nameBasedId = (name: string): string => uuidv5(`name:${name}`, NAMESPACE)
