// Response bodies in tests are what the assertions examine, field by field; typing them loosely
// here keeps each test reading as a specification rather than a chain of casts.
export {};
declare global {
  interface Response {
    // biome-ignore lint/suspicious/noExplicitAny: see above
    json(): Promise<any>;
  }
}
