/** `deno task bench`: runs every *_bench.ts in this folder in turn, printing their figures. */
const dir = new URL(".", import.meta.url).pathname;
const only = Deno.args[0];
const files = [...Deno.readDirSync(dir)].map((e) => e.name).filter((n) => n.endsWith("_bench.ts"))
  .filter((n) => !only || n.includes(only)).sort();
let failed = 0;
for (const file of files) {
  console.log(`# ${file}`);
  const { code } = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", `${dir}${file}`],
  })
    .spawn().status;
  if (code !== 0) failed++;
}
Deno.exit(failed === 0 ? 0 : 1);
