/// The bundled text list the synthetic performer speaks: short everyday sentences written for this
/// project, several languages, kept as a Swift table so nothing has to be located at run time.
public enum SentenceList {
    /// Languages in a fixed order (synthesis picks by index, so the order is part of determinism).
    public static let languages = ["en", "de", "fr", "es", "it"]

    public static func sentences(for language: String) -> [String] {
        switch language {
        case "en": return english
        case "de": return german
        case "fr": return french
        case "es": return spanish
        case "it": return italian
        default: return []
        }
    }

    /// Short laughter spoken by espeak-ng for the laughing state.
    public static let laughter = ["ha ha ha.", "ha ha.", "ha ha ha ha.", "heh heh, ha ha."]

    static let english = [
        "The morning train was late again, so I walked along the river.",
        "Could you pass me the blue folder on the second shelf?",
        "We planted tomatoes and beans behind the old garage.",
        "Nobody expected the meeting to finish before lunch.",
        "My brother fixes bicycles in a tiny shop near the market.",
        "Please remember to water the plants while I am away.",
        "The weather turned cold, and the first snow fell overnight.",
        "I think the answer is simpler than it looks at first.",
        "She painted the kitchen yellow and hung a map above the table.",
        "Let me explain how the whole process works, step by step.",
        "That was the best soup I have had all winter.",
        "Really? You finished the entire puzzle in one evening?",
    ]

    static let german = [
        "Der Zug kam heute wieder zu spät, also bin ich gelaufen.",
        "Kannst du mir bitte die blaue Mappe aus dem Regal geben?",
        "Im Garten wachsen Tomaten, Bohnen und ein wenig Salat.",
        "Niemand hatte erwartet, dass die Sitzung so kurz sein würde.",
        "Mein Bruder repariert Fahrräder in einer kleinen Werkstatt.",
        "Vergiss bitte nicht, die Blumen zu gießen.",
        "Über Nacht ist es kalt geworden, und der erste Schnee fiel.",
        "Ich glaube, die Lösung ist einfacher, als sie aussieht.",
        "Lass mich Schritt für Schritt erklären, wie das funktioniert.",
        "Das war wirklich die beste Suppe des ganzen Winters.",
    ]

    static let french = [
        "Le train du matin était encore en retard, alors j'ai marché.",
        "Peux-tu me passer le dossier bleu sur la deuxième étagère?",
        "Nous avons planté des tomates et des haricots derrière la maison.",
        "Personne ne pensait que la réunion finirait avant midi.",
        "Mon frère répare des vélos dans un petit atelier près du marché.",
        "N'oublie pas d'arroser les plantes pendant mon absence.",
        "Il a fait froid cette nuit, et la première neige est tombée.",
        "Je crois que la réponse est plus simple qu'elle n'en a l'air.",
        "Laisse-moi t'expliquer comment tout cela fonctionne.",
        "C'était vraiment la meilleure soupe de tout l'hiver.",
    ]

    static let spanish = [
        "El tren de la mañana llegó tarde otra vez, así que caminé.",
        "¿Me pasas la carpeta azul del segundo estante, por favor?",
        "Plantamos tomates y judías detrás del viejo garaje.",
        "Nadie esperaba que la reunión terminara antes de comer.",
        "Mi hermano arregla bicicletas en un taller pequeño cerca del mercado.",
        "Acuérdate de regar las plantas mientras estoy fuera.",
        "Hizo mucho frío anoche y cayó la primera nieve.",
        "Creo que la respuesta es más sencilla de lo que parece.",
        "Déjame explicarte paso a paso cómo funciona todo esto.",
        "Fue la mejor sopa que he probado en todo el invierno.",
    ]

    static let italian = [
        "Il treno del mattino era di nuovo in ritardo, così ho camminato.",
        "Mi passi la cartella blu sul secondo scaffale, per favore?",
        "Abbiamo piantato pomodori e fagioli dietro il vecchio garage.",
        "Nessuno pensava che la riunione finisse prima di pranzo.",
        "Mio fratello ripara biciclette in una piccola bottega vicino al mercato.",
        "Ricordati di annaffiare le piante mentre sono via.",
        "Stanotte ha fatto freddo ed è caduta la prima neve.",
        "Credo che la risposta sia più semplice di quanto sembri.",
        "Lascia che ti spieghi passo dopo passo come funziona.",
        "È stata davvero la zuppa più buona di tutto l'inverno.",
    ]
}
