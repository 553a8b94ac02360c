// Every tcpdump test capture through the engine with rules that match nothing (see corpus.ts).
import { corpusSuite } from './corpus.ts';
corpusSuite('nothing');
