// Decodes the QR codes of raw RGBA images with jsQR (an independent decoder from npm).
// Input: a JSON file [{path, width, height}, ...]; prints the decoded texts (null: none).
import { readFileSync } from "node:fs";
import jsQR from "jsqr";

const images = JSON.parse(readFileSync(process.argv[2], "utf8"));
const texts = images.map(({ path, width, height }) => {
  const pixels = new Uint8ClampedArray(readFileSync(path));
  const code = jsQR(pixels, width, height, { inversionAttempts: "dontInvert" });
  return code ? code.data : null;
});
process.stdout.write(JSON.stringify(texts));
